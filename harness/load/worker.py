"""Entry point of the load process: ``python -m harness.load.worker [--role ...] SPEC.json [OUT.json]``.

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
from pathlib import Path  # noqa: E402

from harness.load.spec import LoadSpec  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker", description=__doc__)
    parser.add_argument("spec", type=Path, help="LoadSpec as JSON")
    parser.add_argument("out", type=Path, nargs="?", help="where to write the raw result (role local)")
    parser.add_argument("--role", choices=("local", "worker"), default="local")
    parser.add_argument("--master-port", type=int, help="master's port (role worker)")
    args = parser.parse_args(argv)
    spec = LoadSpec.from_dict(json.loads(args.spec.read_text()))
    if spec.cpu_affinity is not None:
        os.sched_setaffinity(0, spec.cpu_affinity)  # before anything starts; Locust workers inherit it

    from harness.load.generator import run_local, run_worker

    if args.role == "worker":
        if args.master_port is None:
            parser.error("--role worker needs --master-port")
        run_worker(spec, args.master_port)
        return
    if args.out is None:
        parser.error("role local needs an output path")
    if spec.workers > 1:
        from harness.load.distributed import run_master

        result = run_master(spec, args.spec)
    else:
        result = run_local(spec)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
