"""Entry point of the load process: ``python -m harness.load.worker SPEC.json OUT.json`` (a phase: run
locally, or as the master of Locust workers), or ``python -m harness.load.worker --role worker --master
HOST:PORT`` (one Locust worker for one phase, which it receives from that master).

Isolation choice: Locust runs on gevent and monkey-patches the standard library when imported, which
would break the harness' asyncio code, threads and subprocess handling. So the harness never imports
Locust: every load phase runs in this separate process, which patches first, runs Locust as a library
(LocalRunner, or a MasterRunner with worker processes), and writes its raw result as JSON.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from harness.load.spec import LoadSpec  # noqa: E402

REFUSED_EXIT = 3  # the master refused this worker (another athbench version, or enough workers)
NO_MASTER_EXIT = 4  # no master answered within --connect-timeout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker", description=__doc__)
    parser.add_argument("spec", type=Path, nargs="?", help="LoadSpec as JSON (role local)")
    parser.add_argument("out", type=Path, nargs="?", help="where to write the raw result (role local)")
    parser.add_argument("--role", choices=("local", "worker"), default="local")
    parser.add_argument("--master", help="master's HOST:PORT (role worker)")
    parser.add_argument("--connect-timeout", type=float, default=60.0, help="seconds to wait for the master")
    args = parser.parse_args(argv)
    if args.role == "worker":
        if args.master is None:
            parser.error("--role worker needs --master HOST:PORT")
        from harness.load.distributed import WorkerRefused, run_worker

        try:
            run_worker(args.master, args.connect_timeout)
        except WorkerRefused as exc:
            print(f"refused by the load master at {args.master}: {exc}", file=sys.stderr)
            sys.exit(REFUSED_EXIT)
        except ConnectionError as exc:
            print(exc, file=sys.stderr)
            sys.exit(NO_MASTER_EXIT)
        return
    if args.spec is None or args.out is None:
        parser.error("role local needs a spec and an output path")
    spec = LoadSpec.from_dict(json.loads(args.spec.read_text()))
    if spec.cpu_affinity is not None:
        os.sched_setaffinity(0, spec.cpu_affinity)  # before anything starts; local Locust workers inherit it

    if spec.workers > 1 or spec.master:
        from harness.load.distributed import run_master

        try:
            result = run_master(spec)
        except TimeoutError as exc:  # e.g. fewer workers joined than expected: the message says it all
            print(f"load phase failed: {exc}", file=sys.stderr)
            sys.exit(1)
    else:
        from harness.load.generator import run_local

        result = run_local(spec)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
