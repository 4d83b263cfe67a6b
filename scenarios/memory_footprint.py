"""memory_footprint: the service's memory at rest and under steady load, and whether it keeps growing.

The service's process tree is sampled (`harness.sampler`: RSS at 10 Hz, USS once a second):

1. *idle* for `idle_s` on the freshly started service: `rss_idle_mb` is the median RSS;
2. *steady load*: the standard mix (`harness.workload`) at `rate` req/s (open model) for `soak_s` after a
   `warmup_s` warm-up. The window is cut into `windows` equal parts; `rss_steady_mb` / `uss_steady_mb`
   have one sample per part (its median), so the spread shows drift. `rss_growth_mb_per_min` is the slope
   of a least-squares line through every RSS sample of the window (n = 1; its standard error and 95 %
   interval are in details). A short soak (the quick pack) mostly shows caches filling up, not a leak:
   judge leaks on the nightly/release soaks.
3. *allocation sites* (when `allocation_sites_s` > 0): the service is restarted with a tiny
   `sitecustomize` hook (written to the run's artifacts, put first on PYTHONPATH) that starts tracemalloc
   at the first SIGUSR2 and writes a snapshot at each. Under the same load, the first signal starts
   tracing, the second, `allocation_sites_s` later, snapshots what was allocated since and is still alive:
   the top sites by file and line (`details["allocation_sites"]`), each with the innermost frame of the
   service's own code that led to it (`project_frame`). This runs after the measurements above, since
   tracing slows the service and inflates its memory.

details: `idle`, `steady` (per part), `growth` (slope, stderr, CI, soak length), `allocation_sites`
(or `allocation_sites_error`), `validity` of the load phase, `sampler_cost`. timeseries: `service_rss_mb`,
`service_uss_mb`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from harness.load.plan import OpenPlan
from harness.phase import SampledRun, Window, generator_fault, service_sampler
from harness.results import Metric, ScenarioResult, TimeSeries
from harness.workload import endpoint_mix, seeded_properties
from scenarios.base import Scenario, ScenarioContext, ScenarioError

RSS = "rss_mb.service"
USS = "uss_mb.service"
TRACEMALLOC_FRAMES = 12
PROJECT_MARKER = "system_under_test"
HOOK = '''"""athbench allocation-site hook: SIGUSR2 starts tracemalloc and writes a snapshot."""
import os
import signal
import tracemalloc

_out = os.environ.get("ATHBENCH_TRACEMALLOC_DIR")
_frames = int(os.environ.get("ATHBENCH_TRACEMALLOC_FRAMES", "4"))
_count = [0]


def _dump(signum, frame):
    if not tracemalloc.is_tracing():
        tracemalloc.start(_frames)
    _count[0] += 1
    path = os.path.join(_out, f"snapshot-{os.getpid()}-{_count[0]}.pickle")
    tracemalloc.take_snapshot().dump(path + ".tmp")
    os.replace(path + ".tmp", path)


if _out:
    signal.signal(signal.SIGUSR2, _dump)
'''


def growth(series: dict[str, Any], window: Window) -> dict[str, float]:
    """Least-squares slope of RSS over the window, MB/min, with its standard error and 95 % interval."""
    points = [
        (t, v)
        for t, v in zip(series["t"], series["v"], strict=False)
        if window.start <= t <= window.end and v is not None
    ]
    if len(points) < 3:
        raise ScenarioError(f"only {len(points)} RSS samples in the soak window; lengthen soak_s")
    t, v = np.array(points).T
    fit = scipy_stats.linregress(t, v)
    half = scipy_stats.t.ppf(0.975, len(t) - 2) * fit.stderr
    return {
        "slope_mb_per_min": 60.0 * fit.slope,
        "stderr_mb_per_min": 60.0 * fit.stderr,
        "ci95_mb_per_min": [60.0 * (fit.slope - half), 60.0 * (fit.slope + half)],
        "r_squared": fit.rvalue**2,
        "samples": len(t),
        "soak_s": window.end - window.start,
    }


def split(window: Window, parts: int) -> list[Window]:
    width = (window.end - window.start) / parts
    return [Window(window.start + i * width, window.start + (i + 1) * width) for i in range(parts)]


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if params["windows"] < 1 or params["idle_s"] <= 0 or params["soak_s"] <= 0:
        raise ScenarioError("memory_footprint needs windows >= 1, idle_s > 0 and soak_s > 0")
    stack = ctx.require_stack()
    endpoints = endpoint_mix(seeded_properties(stack), variants=params["variants"], seed=params["seed"])
    with SampledRun(service_sampler(stack)) as sampled:
        ctx.log(f"idle for {params['idle_s']:g} s")
        time.sleep(params["idle_s"])
        idle = Window(0.0, sampled.now())
        idle_rss = sampled.values(RSS, idle)
        ctx.log(f"steady load: {params['rate']:g} req/s for {params['soak_s']:g} s")
        plan = OpenPlan.constant(params["rate"], params["soak_s"], users=params["users"])
        load, window = sampled.load(
            ctx.target_url, plan, endpoints, ctx.artifacts_dir / f"memory-{ctx.profile}", warmup_s=params["warmup_s"]
        )
    rss_series, uss_series = sampled.series(RSS), sampled.series(USS)
    parts = split(window, params["windows"])
    steady_rss = [float(np.median(values)) for part in parts if (values := _inside(rss_series, part))]
    steady_uss = [float(np.median(values)) for part in parts if (values := _inside(uss_series, part))]
    if not idle_rss or not steady_rss:
        raise ScenarioError("the sampler recorded no RSS of the service")
    slope = growth(rss_series, window)
    result.metrics["rss_idle_mb"] = Metric.single(float(np.median(idle_rss)), unit="MB", better="lower")
    result.metrics["rss_steady_mb"] = Metric.from_samples(steady_rss, unit="MB", better="lower")
    if steady_uss:
        result.metrics["uss_steady_mb"] = Metric.from_samples(steady_uss, unit="MB", better="lower")
    result.metrics["rss_growth_mb_per_min"] = Metric.single(slope["slope_mb_per_min"], unit="MB/min", better="lower")
    result.timeseries["service_rss_mb"] = TimeSeries("MB", list(rss_series["t"]), list(rss_series["v"]))
    result.timeseries["service_uss_mb"] = TimeSeries("MB", list(uss_series["t"]), list(uss_series["v"]))
    result.details.update(
        idle={"window_s": [idle.start, idle.end], "rss_samples": len(idle_rss)},
        steady={"parts": [[p.start, p.end] for p in parts], "rss_mb": steady_rss, "uss_mb": steady_uss},
        growth=slope,
        load={
            "rate_rps": params["rate"],
            "throughput_rps": load.overall.throughput_rps,
            "error_rate": load.overall.error_rate,
        },
        validity={"valid": load.valid, "reason": load.invalid_reason, **load.validity},
        sampler_cost=sampled.sampler.result().cost,
        method="psutil RSS (10 Hz) and USS (1 Hz) of the service process tree; allocation sites from tracemalloc",
    )
    fault = generator_fault(load)
    if fault:
        result.status = "invalid"
        result.reason = f"steady-load phase: {fault}"
    elif not load.valid:
        result.details["overloaded"] = (
            f"the service did not keep up with {params['rate']:g} req/s: {load.invalid_reason}"
        )
    if params["allocation_sites_s"] > 0:
        allocation_sites(ctx, params, result, endpoints)


def _inside(series: dict[str, Any], window: Window) -> list[float]:
    return [v for t, v in zip(series["t"], series["v"], strict=False) if window.start <= t <= window.end and v]


def allocation_sites(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult, endpoints: list) -> None:
    """Restart with tracemalloc on, snapshot twice under load, and keep the top growth sites."""
    import threading
    import tracemalloc

    from harness.load.runner import run_load
    from harness.profiling import short_path

    hook_dir = ctx.artifacts_dir / f"tracemalloc-hook-{ctx.profile}"
    snapshots = ctx.artifacts_dir / f"tracemalloc-{ctx.profile}"
    hook_dir.mkdir(parents=True, exist_ok=True)
    snapshots.mkdir(parents=True, exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    env = {
        "ATHBENCH_TRACEMALLOC_FRAMES": str(TRACEMALLOC_FRAMES),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook_dir), os.environ.get("PYTHONPATH")])),
        "ATHBENCH_TRACEMALLOC_DIR": str(snapshots),
    }
    ctx.log(f"allocation sites: tracemalloc on, {params['allocation_sites_s']:g} s under load")
    ctx.restart_service(extra_env=env)
    pid = ctx.require_stack().service_processes()[0].pid
    duration = params["allocation_sites_s"]
    plan = OpenPlan.constant(params["rate"], duration + 2.0, users=params["users"])
    errors: list[BaseException] = []

    def load() -> None:
        try:
            run_load(ctx.target_url, plan, endpoints=endpoints, warmup_s=1.0, work_dir=snapshots / "load")
        except (RuntimeError, TimeoutError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=load, name="allocation-sites-load")
    thread.start()
    try:
        first = _snapshot(pid, snapshots, 1, delay_s=3.0)
        second = _snapshot(pid, snapshots, 2, delay_s=duration)
    except ScenarioError as exc:
        result.details["allocation_sites_error"] = str(exc)
        return
    finally:
        thread.join()
    before, after = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(second))
    top = after.compare_to(before, "traceback")[:15]
    result.details["allocation_sites"] = {
        "method": f"tracemalloc ({TRACEMALLOC_FRAMES} frames) started under load; live allocations after the interval",
        "interval_s": duration,
        "load_errors": [str(e) for e in errors],
        "top": [
            {
                "file": short_path(stat.traceback[-1].filename),  # tracebacks run oldest first
                "line": stat.traceback[-1].lineno,
                "project_frame": next(
                    (
                        f"{short_path(f.filename)}:{f.lineno}"
                        for f in reversed(stat.traceback)
                        if PROJECT_MARKER in f.filename
                    ),
                    None,
                ),
                "size_diff_kb": stat.size_diff / 1024.0,
                "size_kb": stat.size / 1024.0,
                "count_diff": stat.count_diff,
            }
            for stat in top
        ],
    }


def _snapshot(pid: int, directory: Path, number: int, delay_s: float) -> Path:
    time.sleep(delay_s)
    os.kill(pid, signal.SIGUSR2)
    path = directory / f"snapshot-{pid}-{number}.pickle"
    deadline = time.monotonic() + 30.0
    while not path.exists():
        if time.monotonic() > deadline:
            raise ScenarioError(f"the service wrote no tracemalloc snapshot to {path} within 30 s")
        time.sleep(0.1)
    return path


SCENARIO = Scenario(
    name="memory_footprint",
    description="RSS/USS at rest and under steady load, RSS growth over a soak, top allocation sites",
    run=run,
    defaults={
        "idle_s": 5.0,
        "rate": 200.0,
        "soak_s": 60.0,
        "warmup_s": 5.0,
        "windows": 3,
        "users": 100,
        "variants": 5,
        "seed": 0,
        "allocation_sites_s": 10.0,
    },
    area="resources",
)
