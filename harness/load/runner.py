"""The public API of load generation: `run_load(...) -> LoadResult`.

The phase runs in a separate load process (``python -m harness.load.worker``, see that module for
why); this function writes the spec, starts the process in its own session, waits with a deadline
(reporting the phase's elapsed time to `harness.progress`), and builds the `LoadResult`. On an error or
Ctrl-C the whole process group (load process and any Locust workers) is stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness
from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.result import LoadResult, build_result
from harness.load.spawn import start_load_process
from harness.load.spec import LoadSpec
from harness.progress import timed

STARTUP_BUDGET_S = 60.0
_REPO_ROOT = Path(harness.__file__).resolve().parents[1]


def default_workers() -> int:
    """Locust worker processes per load phase when a scenario does not say: $ATHBENCH_LOAD_WORKERS or 1."""
    value = os.environ.get("ATHBENCH_LOAD_WORKERS", "1")
    try:
        workers = int(value)
    except ValueError:
        raise ValueError(f"ATHBENCH_LOAD_WORKERS must be a whole number, not {value!r}") from None
    if workers < 1:
        raise ValueError(f"ATHBENCH_LOAD_WORKERS must be at least 1, not {workers}")
    return workers


def default_master() -> tuple[str, int] | None:
    """(HOST:PORT, expected workers) when this run's load comes from workers started elsewhere:
    $ATHBENCH_LOAD_MASTER and $ATHBENCH_LOAD_EXPECT_WORKERS (set by `athbench assess|run --load-master
    HOST:PORT --expect-workers N`), else None."""
    master = os.environ.get("ATHBENCH_LOAD_MASTER") or None
    expected = os.environ.get("ATHBENCH_LOAD_EXPECT_WORKERS") or None
    if master is None and expected is None:
        return None
    if master is None or expected is None:
        raise ValueError(
            "ATHBENCH_LOAD_MASTER and ATHBENCH_LOAD_EXPECT_WORKERS go together (--load-master, --expect-workers)"
        )
    if not expected.isdigit() or int(expected) < 1:
        raise ValueError(f"ATHBENCH_LOAD_EXPECT_WORKERS must be a whole number >= 1, not {expected!r}")
    return master, int(expected)


def default_seed() -> int:
    """Seed of the request templates' streams when a scenario does not say: $ATHBENCH_LOAD_SEED (set by
    `athbench assess|run --seed N`) or 0."""
    value = os.environ.get("ATHBENCH_LOAD_SEED", "0")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"ATHBENCH_LOAD_SEED must be a whole number, not {value!r}") from None


def run_load(
    target_url: str,
    plan: ClosedPlan | OpenPlan,
    *,
    endpoints: Sequence[Endpoint] = (),
    locustfile: str | Path | None = None,
    warmup_s: float = 2.0,
    workers: int | None = None,
    drain_s: float = 5.0,
    request_timeout_s: float = 10.0,
    lag_tolerance_ms: float = 50.0,
    max_unsent_fraction: float = 0.01,
    cpu_limit_percent: float = 90.0,
    cpu_affinity: Sequence[int] | None = None,
    work_dir: str | Path | None = None,
    seed: int | None = None,
    join_timeout_s: float = 60.0,
) -> LoadResult:
    """Run one load phase against ``target_url`` and return what it measured.

    ``plan`` gives the model and the measured window's length; ``warmup_s`` runs before it and is not
    measured. ``workers`` > 1 uses Locust's distributed mode with that many local worker processes (default:
    $ATHBENCH_LOAD_WORKERS, set by `athbench assess|run --load-workers N`, else 1).
    ``cpu_affinity`` pins the generator processes to those CPUs (recorded per process in
    ``LoadResult.processes``). ``work_dir`` keeps the spec, raw result and the load process' log (a
    temporary directory otherwise). ``drain_s`` bounds the wait for in-flight requests after the window
    (those still running count as ``incomplete``); ``request_timeout_s`` is the connect and network
    timeout of each request. Under the open model every request due in the window counts: unsent,
    incomplete and timed-out ones enter the corrected histogram at their lower bound, and percentiles
    they can have pulled down are marked ``lower_bound`` (see `harness.load.result`). Validity
    tolerances: ``lag_tolerance_ms`` (generator event-loop and dispatch lag at p99, median schedule lag),
    ``max_unsent_fraction`` (unsent + incomplete, beyond which the phase is backlogged: its percentiles
    are lower bounds), ``cpu_limit_percent`` (mean CPU of a generator process over the window).
    ``seed`` seeds the streams of templated endpoints (default: $ATHBENCH_LOAD_SEED, set by `--seed`, else
    0); each worker draws its own disjoint stream from it, and the same seed gives the same requests.
    """
    remote = default_master()
    spec = LoadSpec(
        target_url=target_url.rstrip("/"),
        plan=plan,
        endpoints=tuple(endpoints),
        locustfile=str(locustfile) if locustfile else None,
        warmup_s=warmup_s,
        drain_s=drain_s,
        request_timeout_s=request_timeout_s,
        workers=remote[1] if remote else workers or default_workers(),
        lag_tolerance_ms=lag_tolerance_ms,
        max_unsent_fraction=max_unsent_fraction,
        cpu_limit_percent=cpu_limit_percent,
        cpu_affinity=tuple(cpu_affinity) if cpu_affinity is not None else None,
        seed=default_seed() if seed is None else seed,
        master=remote[0] if remote else None,
        join_timeout_s=join_timeout_s,
    )
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        return run_spec(spec, Path(work_dir))
    with tempfile.TemporaryDirectory(prefix="athbench-load-") as tmp:
        return run_spec(spec, Path(tmp))


def run_spec(spec: LoadSpec, work_dir: Path) -> LoadResult:
    """Run a `LoadSpec` in a load process whose files go to ``work_dir``."""
    spec_path, out_path, log_path = work_dir / "load-spec.json", work_dir / "load-raw.json", work_dir / "load.log"
    spec_path.unlink(missing_ok=True)
    with os.fdopen(os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        json.dump(spec.to_dict(), file, indent=2)
    out_path.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    budget = STARTUP_BUDGET_S + spec.warmup_s + spec.plan.duration_s + 2 * spec.drain_s
    if spec.master:
        budget += spec.join_timeout_s
    log_path.write_bytes(b"")
    process = start_load_process([str(spec_path), str(out_path)], env, log_path)
    label = f"load phase ({spec.plan.model} model, {spec.warmup_s:g} s warm-up + {spec.plan.duration_s:g} s)"
    try:
        with timed("load phase", label, spec.warmup_s + spec.plan.duration_s):
            returncode = process.wait(timeout=budget)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"load process did not finish within {budget:.0f} s; log: {log_path}") from exc
    finally:
        process.stop()
        spec_path.write_text(json.dumps(redacted(spec.to_dict()), indent=2))  # kept for the record
    if returncode != 0 or not out_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"load process failed (exit {returncode}); end of its log:\n{tail}")
    return build_result(json.loads(out_path.read_text()), spec)


SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def redacted(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as kept in the run directory: credential header values (the admin token...) replaced."""
    endpoints = [
        {
            **endpoint,
            "headers": {
                k: "<redacted>" if k.lower() in SECRET_HEADERS else v for k, v in endpoint.get("headers", {}).items()
            },
        }
        for endpoint in spec["endpoints"]
    ]
    return {**spec, "endpoints": endpoints}
