"""health_overhead: what the service's own health loop costs an idle service, in CPU and in event-loop lag.

Three phases on an idle service (no traffic but the scenario's own `/metrics` scrape, one per window in
the off and on phases, so it cancels out):

1. *off*: no health round runs. The freshly started service is used as is when its first round (one
   nominal interval after start) comes after the whole phase; otherwise it is restarted with
   `ATHBENCH_HEALTH_INTERVAL` so large that no round runs. `windows` windows of `window_s`.
2. *nominal*: the service at its configured interval (the same service when the off phase reused it,
   else restarted without override) until `interval_rounds` start-to-start intervals between background
   rounds have been observed (`athbench_health_round_interval_seconds`, one sample per interval).
   `health_interval_s` is this measured interval (configured interval + round time + loop delays); the
   configured value is in `details["configured_interval_s"]`. This phase lasts about
   (`interval_rounds` + 1) nominal intervals from the service's start. If no interval completes within
   its deadline, the time waited since the last round is recorded with `bound="at_least"`.
3. *on*: restarted with the interval shortened to `test_interval_s`, so that enough rounds run in a few
   seconds to be measured; the same windows.

In each window the CPU time of the service's processes (per-thread `schedstat`, ns resolution; psutil
`cpu_times` where that is missing) is read at both ends, and the service's `/metrics` gives the health
rounds run (`athbench_health_round_duration_seconds` count and sum) and the event-loop lag histogram
(`athbench_event_loop_lag_seconds`, the service probes every 20-50 ms).

Scaling to the profile's nominal interval (30 s baseline / 15 s optimized, or the configured one): a
round's CPU cost is the on-window CPU beyond the off rate divided by the rounds in it; the overhead at
the nominal interval is that cost over one nominal period (interval + round time), in % of one core.
The lag distribution at the nominal interval is one round's share of on-window probes plus the rest of
the nominal period filled with off-phase probes; `event_loop_lag_p99_ms` is its p99 (interpolated in the
histogram's buckets). `event_loop_lag_max_ms` is the largest lag inside the on windows (n = 1): exact
when the service's since-start max gauge rose during them, else the smaller of that gauge and the highest
non-empty histogram bucket's edge, recorded with `bound="at_most"` (`details["lag"]["on_at_test_interval"]
["max_exact"]` says which). The optimized profile's background CPU sampler (`CpuSampler`, 2 Hz) runs in
both phases, so its cost is part of the idle figure, not of the overhead; details say so.

Then, if `profile_s` > 0, py-spy records the service for that long with the health loop on
(`harness.profiling`); the speedscope file and flame graph are artifacts and `details["hot_frames"]`
names the frames that held the event loop (the baseline's `psutil.cpu_percent(interval=1)`). If py-spy
cannot run, `details["profile_error"]` says why.

details: `configured_interval_s`, `interval` (measured start-to-start samples, rounds, phase length),
`windows` (per window: phase, wall, cpu, rounds, round time, lag sum), `scaling` (nominal and
test interval, idle CPU, raw overhead at the test interval, `loop_blocked_percent_of_time`: the share of
wall time the loop was stalled by the health loop at the nominal interval, the figure to set against the
original assessment's "6.7 % overhead"), `lag` (off / on summaries, on-phase buckets), `rounds`,
`off_phase`, `hot_frames`, `profile_error`.
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from scenarios.base import MetricSpec, Scenario, ScenarioContext, ScenarioError, ScenarioResult, profiling

OFF_INTERVAL_S = 10_000_000.0  # no round runs within any measurement
FRESH_MARGIN_S = 1.5
LAG_HISTOGRAM = "athbench_event_loop_lag_seconds"
LAG_MAX_GAUGE = "athbench_event_loop_lag_max_seconds"
ROUND_HISTOGRAM = "athbench_health_round_duration_seconds"
INTERVAL_HISTOGRAM = "athbench_health_round_interval_seconds"
POLL_S = 0.25
ROUND_ALLOWANCE_S = 5.0  # longest health round the nominal phase's deadline allows for


def nominal_interval(ctx: ScenarioContext) -> float:
    """The health interval the service uses in this profile without the scenario's override."""
    from system_under_test.settings import Settings

    return Settings.from_env(ctx.service_environment()).health_interval_s


def lag_buckets(before: Any, after: Any) -> list[tuple[float, float]]:
    """(upper bound in s, probes in that bucket) between two scrapes, non-cumulative, +Inf last."""
    name = f"{LAG_HISTOGRAM}_bucket"
    out: list[tuple[float, float]] = []
    previous = 0.0
    for le in sorted(after.label_values(name, "le"), key=float):
        cumulative = after.total(name, le=le) - before.total(name, le=le)
        out.append((float(le), max(cumulative - previous, 0.0)))
        previous = max(cumulative, previous)
    return out


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Quantile q (0..1) of a bucketed distribution, linear inside the bucket (as PromQL's histogram_quantile).

    A quantile in the +Inf bucket gives the largest finite bound (a lower bound of the true value).
    """
    total = sum(count for _, count in buckets)
    if total <= 0:
        return None
    rank = q * total
    cumulative = 0.0
    lower = 0.0
    for bound, count in buckets:
        if count > 0 and cumulative + count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - cumulative) / count
        cumulative += count
        if not math.isinf(bound):
            lower = bound
    return lower


def _scrape(ctx: ScenarioContext, client: httpx.Client) -> Any:
    try:
        return ctx.scrape(client=client, timeout_s=10.0)
    except httpx.HTTPError as exc:
        raise ScenarioError(f"cannot read the service's /metrics: {exc}") from exc


def fresh_service_is_off(ctx: ScenarioContext, params: dict[str, Any], nominal_s: float) -> bool:
    """True when the running service is young enough that its first round (one nominal interval after
    start) comes after the whole off phase, so it can serve as the off phase without a restart."""
    import psutil

    try:
        age = time.time() - ctx.service_processes()[0].create_time()
    except (IndexError, psutil.Error):
        return False
    off_length = params["settle_s"] + params["windows"] * (params["window_s"] + 0.5)
    return age + off_length + FRESH_MARGIN_S < nominal_s


def measure_phase(
    ctx: ScenarioContext, params: dict[str, Any], phase: str, interval_s: float | None
) -> tuple[list[dict[str, Any]], Any, Any]:
    """Restart with this health interval (None: keep the running service), settle, measure the windows.

    Returns the windows and the scrapes before the first and after the last window.
    """
    if interval_s is not None:
        ctx.restart_service({"ATHBENCH_HEALTH_INTERVAL": repr(interval_s)})
    time.sleep(params["settle_s"])
    windows: list[dict[str, Any]] = []
    with httpx.Client() as client:
        first = previous = _scrape(ctx, client)
        for i in range(params["windows"]):
            wall0, cpu0 = time.perf_counter(), ctx.service_cpu_seconds()[0]
            time.sleep(params["window_s"])
            wall1, cpu1 = time.perf_counter(), ctx.service_cpu_seconds()[0]
            current = _scrape(ctx, client)
            rounds = current.total(f"{ROUND_HISTOGRAM}_count") - previous.total(f"{ROUND_HISTOGRAM}_count")
            round_s = current.total(f"{ROUND_HISTOGRAM}_sum") - previous.total(f"{ROUND_HISTOGRAM}_sum")
            windows.append(
                {
                    "phase": phase,
                    "index": i,
                    "wall_s": wall1 - wall0,
                    "cpu_s": cpu1 - cpu0,
                    "cpu_percent": 100.0 * (cpu1 - cpu0) / (wall1 - wall0),
                    "rounds": rounds,
                    "round_ms": 1000.0 * round_s / rounds if rounds else None,
                    "lag": lag_buckets(previous, current),
                    "lag_sum_s": current.total(f"{LAG_HISTOGRAM}_sum") - previous.total(f"{LAG_HISTOGRAM}_sum"),
                }
            )
            previous = current
    return windows, first, previous


def window_max_lag_s(first: Any, last: Any, buckets: list[tuple[float, float]]) -> tuple[float, bool]:
    """Largest loop lag inside the windows and whether it is exact, from the since-start max gauge and the histogram.

    If the gauge rose during the windows, its final value is the windows' max (exact). Otherwise the
    max lies in the highest non-empty bucket and below the gauge: the smaller of the two, an upper bound.
    """
    before, after = first.total(LAG_MAX_GAUGE), last.total(LAG_MAX_GAUGE)
    if after > before:
        return after, True
    upper = max((bound for bound, count in buckets if count > 0), default=0.0)
    return min(upper, before), False


def measure_round_interval(ctx: ScenarioContext, rounds: int, nominal_s: float) -> dict[str, Any]:
    """Wait for `rounds` start-to-start intervals between the running service's background health rounds.

    Polls `/metrics` every POLL_S: each new observation of `athbench_health_round_interval_seconds` is one
    sample (several in one poll, from several workers, give their mean). Gives up after about
    (rounds + 1) nominal periods plus margins; with no sample by then, `at_least_s` is the time since the
    last round started (or since the phase began), a lower bound of the interval.
    """
    started = time.monotonic()
    deadline = started + 1.5 * (rounds + 1) * (nominal_s + ROUND_ALLOWANCE_S) + 10.0
    samples: list[float] = []
    last_round = started
    with httpx.Client() as client:
        previous = _scrape(ctx, client)
        while len(samples) < rounds and time.monotonic() < deadline:
            time.sleep(POLL_S)
            current = _scrape(ctx, client)
            new = round(current.total(f"{INTERVAL_HISTOGRAM}_count") - previous.total(f"{INTERVAL_HISTOGRAM}_count"))
            spent = current.total(f"{INTERVAL_HISTOGRAM}_sum") - previous.total(f"{INTERVAL_HISTOGRAM}_sum")
            samples.extend([spent / new] * new if new > 0 else [])
            if current.total(f"{ROUND_HISTOGRAM}_count") > previous.total(f"{ROUND_HISTOGRAM}_count"):
                last_round = time.monotonic()
            previous = current
    return {
        "samples_s": samples,
        "at_least_s": None if samples else time.monotonic() - last_round,
        "phase_s": time.monotonic() - started,
        "wanted": rounds,
    }


def profile_health_loop(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    """py-spy the service while the health loop runs; hot frames to details, files to artifacts."""
    name = f"health_overhead-{ctx.profile}"
    try:
        artifacts = profiling.record(ctx.service_pid, params["profile_s"], ctx.artifacts_dir, name=name)
        frames = profiling.hot_frames(artifacts.speedscope, limit=15)
    except profiling.ProfilingError as exc:
        result.details["profile_error"] = str(exc)
        return
    result.artifacts["speedscope"] = str(artifacts.speedscope.relative_to(ctx.out_dir))
    result.artifacts["flamegraph"] = str(artifacts.flamegraph.relative_to(ctx.out_dir))
    result.details["hot_frames"] = [f.to_dict() for f in frames]
    result.details["profile_samples"] = artifacts.samples


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if params["windows"] < 1 or params["window_s"] <= 0 or params["test_interval_s"] <= 0:
        raise ScenarioError("health_overhead needs windows >= 1, window_s > 0 and test_interval_s > 0")
    if params["interval_rounds"] < 1:
        raise ScenarioError("health_overhead needs interval_rounds >= 1")
    nominal = nominal_interval(ctx)
    ctx.log(f"health loop off: {params['windows']} x {params['window_s']:g} s idle")
    reuse = fresh_service_is_off(ctx, params, nominal)
    off, _, off_last = measure_phase(ctx, params, "off", None if reuse else OFF_INTERVAL_S)
    ctx.log(f"health loop at its configured {nominal:g} s: waiting for {params['interval_rounds']} interval(s)")
    if not reuse:
        ctx.restart_service()
    interval = measure_round_interval(ctx, params["interval_rounds"], nominal)
    ctx.log(f"health loop every {params['test_interval_s']:g} s: {params['windows']} x {params['window_s']:g} s idle")
    on, on_first, on_last = measure_phase(ctx, params, "on", params["test_interval_s"])
    if params["profile_s"] > 0:
        ctx.log(f"py-spy for {params['profile_s']:g} s with the health loop on")
        profile_health_loop(ctx, params, result)

    off_wall = sum(w["wall_s"] for w in off)
    off_rate = sum(w["cpu_s"] for w in off) / off_wall  # CPU seconds per second, loop off
    off_lag = [(b, c / off_wall) for b, c in _sum_buckets([w["lag"] for w in off])]  # probes per second
    off_lag_rate = sum(w["lag_sum_s"] for w in off) / off_wall  # seconds of lag per second, loop off
    overhead: list[float] = []
    raw_overhead: list[float] = []
    round_ms: list[float] = []
    lag_p99: list[float] = []
    blocked: list[float] = []
    for window in on:
        raw_overhead.append(100.0 * (window["cpu_s"] / window["wall_s"] - off_rate))
        if not window["rounds"]:
            continue
        round_s = window["round_ms"] / 1000.0
        per_round_cpu = (window["cpu_s"] - off_rate * window["wall_s"]) / window["rounds"]
        nominal_period = nominal + round_s
        overhead.append(100.0 * per_round_cpu / nominal_period)
        per_round_lag = (window["lag_sum_s"] - off_lag_rate * window["wall_s"]) / window["rounds"]
        blocked.append(100.0 * per_round_lag / nominal_period)
        round_ms.append(window["round_ms"])
        idle_rest = max(nominal_period - window["wall_s"] / window["rounds"], 0.0)
        mixture = [
            (bound, count / window["rounds"] + rate * idle_rest)
            for (bound, count), (_, rate) in zip(window["lag"], off_lag, strict=True)
        ]
        p99 = bucket_quantile(mixture, 0.99)
        if p99 is not None:
            lag_p99.append(1000.0 * p99)
    if not overhead:
        raise ScenarioError(
            f"no health round ran in {params['windows']} windows of {params['window_s']:g} s at a "
            f"{params['test_interval_s']:g} s interval; lengthen window_s"
        )
    on_lag = _sum_buckets([w["lag"] for w in on])
    lag_max_s, lag_exact = window_max_lag_s(on_first, on_last, on_lag)
    lag_max_ms = 1000.0 * lag_max_s
    ctx.record("cpu_overhead_percent", overhead)
    ctx.record("event_loop_lag_max_ms", lag_max_ms, bound="exact" if lag_exact else "at_most")
    ctx.record("event_loop_lag_p99_ms", lag_p99)
    ctx.record("health_round_ms", round_ms)
    if interval["samples_s"]:
        ctx.record("health_interval_s", interval["samples_s"])
    else:
        ctx.record("health_interval_s", interval["at_least_s"], bound="at_least")
    result.details.update(
        configured_interval_s=nominal,
        interval={
            **interval,
            "method": "start-to-start time of consecutive background rounds at the configured interval "
            "(athbench_health_round_interval_seconds)",
        },
        windows=[{k: v for k, v in w.items() if k != "lag"} for w in off + on],
        scaling={
            "nominal_interval_s": nominal,
            "test_interval_s": params["test_interval_s"],
            "note": (
                f"measured with the health loop every {params['test_interval_s']:g} s so that enough rounds run; "
                f"cpu_overhead_percent and event_loop_lag_p99_ms are scaled to the nominal {nominal:g} s interval "
                "(per-round cost over one nominal period); raw_overhead_percent is at the test interval"
            ),
            "idle_cpu_percent_loop_off": 100.0 * off_rate,
            "raw_overhead_percent": raw_overhead,
            "loop_blocked_percent_of_time": blocked,
            "loop_blocked_note": (
                "share of wall time the event loop could not run anything because of the health loop, at the "
                "nominal interval (probe lag beyond the off phase's, per round, over one nominal period)"
            ),
            "background_sampler": "the optimized CpuSampler runs in both phases: its cost is in the idle figure",
        },
        lag={
            "off": {
                "max_ms": 1000.0 * off_last.total(LAG_MAX_GAUGE),
                "p99_ms": _ms(bucket_quantile(_sum_buckets([w["lag"] for w in off]), 0.99)),
            },
            "on_at_test_interval": {
                "max_ms": lag_max_ms,
                "max_exact": lag_exact,
                "max_gauge_since_start_ms": 1000.0 * on_last.total(LAG_MAX_GAUGE),
                "p99_ms": _ms(bucket_quantile(on_lag, 0.99)),
            },
            "buckets_on": [[b if math.isfinite(b) else None, c] for b, c in on_lag],
        },
        rounds={"off": sum(w["rounds"] for w in off), "on": sum(w["rounds"] for w in on)},
        off_phase="the freshly started service before its first round" if reuse else "restarted with the loop off",
    )
    if sum(w["rounds"] for w in off):
        result.details["warning"] = "health rounds ran while the loop was meant to be off"


def _sum_buckets(windows: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    bounds = [b for b, _ in windows[0]]
    return [(bound, sum(w[i][1] for w in windows)) for i, bound in enumerate(bounds)]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000.0 * seconds


def estimate(params: dict[str, Any]) -> float:
    """Expected wall seconds (progress only): two idle phases of windows, the wait for `interval_rounds`
    nominal intervals (30 s, the longer profile's), the profile and three service starts."""
    windows = 2 * params["windows"] * (params["window_s"] + 0.5) + 2 * params["settle_s"]
    return windows + (params["interval_rounds"] + 1) * 30.0 + params["profile_s"] + 3 * 5.0


SCENARIO = Scenario(
    name="health_overhead",
    description="CPU and event-loop lag caused by the service's health loop (on vs off, idle service)",
    run=run,
    estimate=estimate,
    defaults={
        "test_interval_s": 1.0,
        "window_s": 10.0,
        "windows": 5,
        "settle_s": 2.0,
        "profile_s": 5.0,
        "interval_rounds": 1,
    },
    area="monitoring",
    metrics=(
        MetricSpec(
            "cpu_overhead_percent",
            "%",
            "lower",
            "cpu",
            "CPU attributable to the health loop (on minus off), in % of one core",
        ),
        MetricSpec(
            "event_loop_lag_max_ms", "ms", "lower", "cpu", "largest event-loop lag seen with the health loop on"
        ),
        MetricSpec(
            "event_loop_lag_p99_ms", "ms", "lower", "cpu", "99th percentile event-loop lag with the health loop on"
        ),
        MetricSpec("health_round_ms", "ms", "lower", "monitoring", "time one health-check round takes"),
        MetricSpec(
            "health_interval_s",
            "s",
            "lower",
            "monitoring",
            "measured seconds from one background health round's start to the next at the configured interval",
        ),
    ),
)
