"""memory_footprint: the service's memory at rest and under steady load, and whether it keeps growing.

The service's process tree is sampled (`harness.sampler`: RSS at 10 Hz, USS every 5 s):

1. *idle* for `idle_s` on the freshly started service: `rss_idle_mb` is the median RSS;
2. *steady load*: the standard mix (`harness.workload`: Zipf over every seeded row, with writes) at
   `rate` req/s (open model) for `soak_s` after a `warmup_s` warm-up; the cache fills with the hot set
   as it would in production (`details["load"]["hit_ratio"]`, `details["traffic"]`). The window is cut
   into `windows` equal parts; `rss_steady_mb` / `uss_steady_mb`
   have one sample per part (its median), so the spread shows drift. `rss_growth_mb_per_min` is the slope
   of a least-squares line through every RSS sample of the window (n = 1 per run). Its 95 % interval in
   `details["growth"]` accounts for autocorrelation (`harness.trend`: 10 Hz RSS samples are far from
   independent; the naive OLS interval, whose stderr is also given, is far too narrow). A short soak (the
   quick pack) mostly shows caches filling up, not a leak: judge leaks on the nightly/release soaks.
3. *allocation sites* (when `allocation_sites_s` > 0; the nightly and release packs): the service is
   restarted with a tiny `sitecustomize` hook (written to the run's artifacts, put first on PYTHONPATH)
   that starts tracemalloc at the first SIGUSR2 and writes a snapshot at each. Under the same load, the
   first signal starts tracing, the second and third, half-way through `allocation_sites_s` and at its
   end, snapshot what was allocated since and is still alive: the top sites by file and line
   (`details["allocation_sites"]`, docs/results-schema.md), each with its source line, the innermost
   frame of the service's own code that led to it (`project_frame`), its live size at the end and its
   growth over the second half (caches filling up mostly grow in the first). This runs after the
   measurements above, since tracing slows the service and inflates its memory.

The steady-load phase is judged by the harness' validity policy (`ctx.load_phase`): a saturated generator
makes the run invalid; a service that did not keep up is listed in `details["overloaded"]`.

details: `idle`, `steady` (per part), `growth` (slope, autocorrelation-aware stderr and CI, effective
sample size, lag-1 autocorrelation, naive stderr, soak length), `load` (with the window's X-Cache
`hit_ratio`), `mix`, `traffic`, `allocation_sites` (or
`allocation_sites_error`), `sampler_cost`. timeseries: `service_rss_mb`,
`service_uss_mb`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.load import Endpoint, OpenPlan, run_load
from scenarios.base import (
    MIX_DEFAULTS,
    MetricSpec,
    Scenario,
    ScenarioContext,
    ScenarioError,
    ScenarioResult,
    TimeSeries,
    Window,
    describe_mix,
    endpoint_mix,
    mix_options,
    phase_seed,
    profiling,
    trend,
)

RSS = "rss_mb.service"
USS = "uss_mb.service"
TRACEMALLOC_FRAMES = 12
TOP_SITES = 15
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


def growth(series: dict[str, Any], window: Window) -> dict[str, Any]:
    """Least-squares slope of RSS over the window, MB/min, with an autocorrelation-aware 95 % interval
    (None when the series has fewer than 3 effective samples)."""
    points = [
        (t, v)
        for t, v in zip(series["t"], series["v"], strict=False)
        if window.start <= t <= window.end and v is not None
    ]
    if len(points) < 3:
        raise ScenarioError(f"only {len(points)} RSS samples in the soak window; lengthen soak_s")
    t, v = np.array(points).T
    fit = trend.linear_trend(t, v)
    return {
        "slope_mb_per_min": 60.0 * fit.slope,
        "stderr_mb_per_min": None if fit.stderr is None else 60.0 * fit.stderr,
        "ci95_mb_per_min": None if fit.ci is None else [60.0 * fit.ci[0], 60.0 * fit.ci[1]],
        "ci_method": "OLS slope, stderr widened by the residuals' effective sample size (lag-1 autocorrelation)",
        "samples": fit.n,
        "effective_samples": fit.n_effective,
        "lag1_autocorrelation": fit.lag1_autocorrelation,
        "naive_stderr_mb_per_min": 60.0 * fit.naive_stderr,
        "r_squared": fit.r_squared,
        "soak_s": window.end - window.start,
    }


def split(window: Window, parts: int) -> list[Window]:
    width = (window.end - window.start) / parts
    return [Window(window.start + i * width, window.start + (i + 1) * width) for i in range(parts)]


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if params["windows"] < 1 or params["idle_s"] <= 0 or params["soak_s"] <= 0:
        raise ScenarioError("memory_footprint needs windows >= 1, idle_s > 0 and soak_s > 0")
    endpoints = endpoint_mix(
        ctx.data.properties, users=ctx.data.users, admin_headers=ctx.admin_headers(), **mix_options(params)
    )
    with ctx.sampling() as sampled:
        if sampled is None:
            raise ScenarioError("memory_footprint needs the service's processes to sample")
        ctx.log(f"idle for {params['idle_s']:g} s")
        time.sleep(params["idle_s"])
        idle = Window(0.0, sampled.now())
        idle_rss = sampled.values(RSS, idle)
        ctx.log(f"steady load: {params['rate']:g} req/s for {params['soak_s']:g} s")
        plan = OpenPlan.constant(params["rate"], params["soak_s"], users=params["users"])
        phase = ctx.load_phase(
            plan, endpoints, label="steady", warmup_s=params["warmup_s"], seed=phase_seed("memory_footprint")
        )
    if phase.window is None:
        raise ScenarioError("the steady-load phase has no sampled window")
    window, load = phase.window, phase.load
    rss_series, uss_series = sampled.series(RSS), sampled.series(USS)
    parts = split(window, params["windows"])
    steady_rss = [float(np.median(values)) for part in parts if (values := _inside(rss_series, part))]
    steady_uss = [float(np.median(values)) for part in parts if (values := _inside(uss_series, part))]
    if not idle_rss or not steady_rss:
        raise ScenarioError("the sampler recorded no RSS of the service")
    slope = growth(rss_series, window)
    ctx.record("rss_idle_mb", float(np.median(idle_rss)))
    ctx.record("rss_steady_mb", steady_rss)
    ctx.record("uss_steady_mb", steady_uss)
    ctx.record("rss_growth_mb_per_min", slope["slope_mb_per_min"])
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
            "hit_ratio": load.overall.cache_hit_ratio,  # X-Cache hits among the window's marked answers
        },
        mix=describe_mix(endpoints),
        traffic=load.traffic(),
        sampler_cost=sampled.cost,
        method="RSS (10 Hz) and USS (every 5 s) of the service tree from /proc; allocation sites from tracemalloc",
    )
    if params["allocation_sites_s"] > 0:
        allocation_sites(ctx, params, result, endpoints)


def _inside(series: dict[str, Any], window: Window) -> list[float]:
    return [v for t, v in zip(series["t"], series["v"], strict=False) if window.start <= t <= window.end and v]


def tracing_env(hook_dir: Path, snapshots: Path) -> dict[str, str]:
    """Write the tracemalloc hook into ``hook_dir``; the environment a Python process needs to load it
    (SIGUSR2 then starts tracing and writes snapshots into ``snapshots``)."""
    hook_dir.mkdir(parents=True, exist_ok=True)
    snapshots.mkdir(parents=True, exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    return {
        "ATHBENCH_TRACEMALLOC_FRAMES": str(TRACEMALLOC_FRAMES),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hook_dir), os.environ.get("PYTHONPATH")])),
        "ATHBENCH_TRACEMALLOC_DIR": str(snapshots),
    }


def take_snapshots(pid: int, directory: Path, interval_s: float, start_delay_s: float = 3.0) -> list[Path]:
    """Signal ``pid`` three times: start tracing (after ``start_delay_s``), then snapshots half-way
    through ``interval_s`` and at its end. Returns the three snapshot files."""
    return [
        _snapshot(pid, directory, 1, delay_s=start_delay_s),
        _snapshot(pid, directory, 2, delay_s=interval_s / 2.0),
        _snapshot(pid, directory, 3, delay_s=interval_s / 2.0),
    ]


def top_sites(middle: Path, end: Path, growth_window_s: float, limit: int = TOP_SITES) -> list[dict[str, Any]]:
    """The ``limit`` allocation sites holding the most memory at ``end`` (live, allocated since tracing
    started), by the innermost frame's file and line and the service frame that led there, each with its
    growth from ``middle`` to ``end`` (``growth_window_s`` apart)."""
    import linecache
    import tracemalloc

    ignored = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<unknown>")]
    before = tracemalloc.Snapshot.load(str(middle)).filter_traces(ignored)
    after = tracemalloc.Snapshot.load(str(end)).filter_traces(ignored)
    sites: dict[tuple[str, int, str | None], dict[str, Any]] = {}
    for stat in after.compare_to(before, "traceback"):
        frame = stat.traceback[-1]  # tracebacks run oldest first
        project = next(
            (
                f"{profiling.short_path(f.filename)}:{f.lineno}"
                for f in reversed(stat.traceback)
                if PROJECT_MARKER in f.filename
            ),
            None,
        )
        key = (profiling.short_path(frame.filename), frame.lineno, project)
        site = sites.setdefault(
            key,
            {
                "file": key[0],
                "line": key[1],
                "code": linecache.getline(frame.filename, frame.lineno).strip()[:120] or None,
                "project_frame": project,
                "size_kb": 0.0,
                "growth_kb": 0.0,
                "count": 0,
                "count_growth": 0,
            },
        )
        site["size_kb"] += stat.size / 1024.0
        site["growth_kb"] += stat.size_diff / 1024.0
        site["count"] += stat.count
        site["count_growth"] += stat.count_diff
    ranked = sorted(sites.values(), key=lambda s: -s["size_kb"])[:limit]
    for site in ranked:
        site["growth_kb_per_min"] = 60.0 * site["growth_kb"] / growth_window_s if growth_window_s > 0 else None
    return ranked


def allocation_sites(
    ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult, endpoints: list[Endpoint]
) -> None:
    """Restart with tracemalloc on, snapshot three times under load, and keep the top sites.

    Its load only drives allocations (nothing is graded from it), so it runs outside `ctx.load_phase`'s
    validity policy: traced, the service is slow and may fall behind.
    """
    import threading

    snapshots = ctx.artifacts_dir / f"tracemalloc-{ctx.profile}"
    env = tracing_env(ctx.artifacts_dir / f"tracemalloc-hook-{ctx.profile}", snapshots)
    ctx.log(f"allocation sites: tracemalloc on, {params['allocation_sites_s']:g} s under load")
    ctx.restart_service(env)
    pid = ctx.service_pid
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
        _, middle, end = take_snapshots(pid, snapshots, duration)
    except ScenarioError as exc:
        result.details["allocation_sites_error"] = str(exc)
        return
    finally:
        thread.join()
    result.details["allocation_sites"] = {
        "method": f"tracemalloc ({TRACEMALLOC_FRAMES} frames) started under load, snapshots half-way and at the end",
        "interval_s": duration,
        "growth_window_s": duration / 2.0,
        "load_errors": [str(e) for e in errors],
        "top": top_sites(middle, end, duration / 2.0),
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
        **MIX_DEFAULTS,
        "allocation_sites_s": 10.0,
    },
    area="resources",
    metrics=(
        MetricSpec("rss_idle_mb", "MB", "lower", "memory", "resident memory of the service's processes when idle"),
        MetricSpec(
            "rss_steady_mb", "MB", "lower", "memory", "resident memory of the service's processes under steady load"
        ),
        MetricSpec(
            "uss_steady_mb",
            "MB",
            "lower",
            "memory",
            "unique (private) memory of the service's processes under steady load",
        ),
        MetricSpec(
            "rss_growth_mb_per_min", "MB/min", "lower", "memory", "slope of resident memory over the steady-load soak"
        ),
    ),
)
