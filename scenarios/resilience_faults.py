"""resilience_faults: faults injected one after another under steady open-model load; what users saw.

A constant-rate request stream (energy assessment and market comparison, alternating; `harness.probe`,
each request timed from its scheduled start) runs for the whole scenario; its first `warmup_s` are not
counted. For each fault in `faults`:
`normal_s` of normal traffic, the fault for `fault_s`, then it is cleared and up to `recover_s` of
traffic shows how fast the service gets back to normal. Faults (loopback only, always cleared in a
`finally`, even on Ctrl-C):

- `upstream_slow`: the market-data upstream answers after `upstream_latency_ms` (`PUT /_faults`).
- `upstream_failing`: the upstream answers 503 to every request.
- `redis_killed`: athbench's Redis is stopped, then started again on the same port.
- `postgres_paused`: the PostgreSQL postmaster and all its children get SIGSTOP, then SIGCONT.

Faults needing a server athbench did not start itself are skipped (`details.skipped`).

Metrics (each request belongs to the phase it was *scheduled* in):
- `availability`: fraction of all requests of the run answered with a status below 500 within the hang
  threshold (degraded-but-answered counts as available).
- `fault_error_rate`: fraction of requests scheduled during the fault windows that got a 5xx, no answer,
  or took longer than the hang threshold.
- `breaker_open_time_s`: per fault, seconds from injection until any `athbench_breaker_state{name}`
  gauge (polled every `poll_s` on /metrics) reads open; faults during which no breaker opened add no
  sample (`details.faults[*].breaker` says so).
- `recovery_time_s`: per fault, seconds from clearing it until the error rate and the p95 latency of
  0.5 s buckets are back to normal (error rate within +2 % and p95 within max(3 x, +50 ms) of the
  `normal_s` phase before the fault) and stay there; a fault not recovered within `recover_s`
  contributes `recover_s` as a lower bound (`details.faults[*].recovered` is false).
- `hung_requests`: requests of the whole run that took longer than `hang_threshold_s` or timed out.

Every scheduled request counts: the stream awaits every request it sent before it stops (a request that
failed or timed out keeps the time it waited as its latency, a lower bound, in every percentile here),
and a stream that did not finish is an error, never a shorter count. A load generator that fell behind
its schedule (median send lag over `lag_tolerance_ms`) makes the run invalid (`ctx.invalidate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from scenarios.base import (
    FaultUnavailable,
    MetricSpec,
    Probe,
    Scenario,
    ScenarioContext,
    ScenarioError,
    ScenarioResult,
    open_stream,
    send_lag_ms,
)

ASSESSMENT_PATH = "/api/v1/properties/{id}/energy-assessment"

FAULTS = ("upstream_slow", "upstream_failing", "redis_killed", "postgres_paused")
BREAKER_GAUGE = "athbench_breaker_state"
OPEN = 1.0
BUCKET_S = 0.5
STABLE_BUCKETS = 2

DEFAULTS: dict[str, Any] = {
    "faults": list(FAULTS),
    "rate_rps": 40.0,
    "warmup_s": 1.0,
    "normal_s": 3.0,
    "fault_s": 5.0,
    "recover_s": 6.0,
    "upstream_latency_ms": 3000.0,
    "hang_threshold_s": 5.0,
    "request_timeout_s": 15.0,
    "poll_s": 0.2,
    "lag_tolerance_ms": 100.0,
    "seed": 7,
}


@dataclass
class FaultWindow:
    name: str
    normal_from: float
    injected: float = 0.0
    cleared: float = 0.0
    observed_until: float = 0.0


@dataclass
class BreakerLog:
    """`athbench_breaker_state` by breaker name, polled in a background thread."""

    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    errors: int = 0

    def first_open(self, start: float, end: float) -> tuple[float, str] | None:
        for t, states in self.samples:
            if start <= t <= end:
                opened = sorted(name for name, v in states.items() if v == OPEN)
                if opened:
                    return t, ",".join(opened)
        return None


@contextlib.contextmanager
def _poll_breakers(ctx: ScenarioContext, every_s: float) -> Iterator[BreakerLog]:
    log = BreakerLog()
    done = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=2.0) as client:
            while not done.is_set():
                try:
                    scrape = ctx.scrape(client)
                    names = scrape.label_values(BREAKER_GAUGE, "name")
                    log.samples.append((time.monotonic(), {n: scrape.total(BREAKER_GAUGE, name=n) for n in names}))
                except httpx.HTTPError:
                    log.errors += 1
                done.wait(every_s)

    thread = threading.Thread(target=loop, name="breaker-poll", daemon=True)
    thread.start()
    try:
        yield log
    finally:
        done.set()
        thread.join(timeout=5.0)


def _fault(name: str, ctx: ScenarioContext, params: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """The fault's context manager (it raises `FaultUnavailable` on entry when this stack cannot have it)."""
    if name == "upstream_slow":
        return ctx.upstream_fault(latency_ms=params["upstream_latency_ms"])
    if name == "upstream_failing":
        return ctx.upstream_fault(error_rate=1.0)
    if name == "redis_killed":
        return ctx.stop_redis()
    if name == "postgres_paused":
        return ctx.pause_postgres()
    raise ScenarioError(f"unknown fault {name!r}; known faults: {', '.join(FAULTS)}")


def _paths(ctx: ScenarioContext, seed: int) -> Callable[[int], str]:
    """Path i of the stream: energy assessments and market comparisons alternating, seeded random ids."""
    ids = ctx.data.property_ids
    slugs = ctx.data.neighbourhood_slugs
    if not slugs:
        raise ScenarioError("the database has no neighbourhoods for the market comparison")
    rng = random.Random(seed)
    picks = [(rng.choice(ids), rng.choice(slugs)) for _ in range(4096)]

    def path_for(i: int) -> str:
        pid, slug = picks[i % len(picks)]
        if i % 2:
            return f"/api/v1/market/{slug}/comparison?property_id={pid}"
        return ASSESSMENT_PATH.format(id=pid)

    return path_for


def _hung(probe: Probe, hang_s: float) -> bool:
    """Took longer than the hang threshold, or timed out (a fast refusal is an error, not a hang)."""
    return probe.error == "timeout" or probe.latency_s > hang_s


def _bad(probe: Probe, hang_s: float) -> bool:
    """Not available: a 5xx, no answer at all, or hung."""
    return probe.server_error or _hung(probe, hang_s)


def _normal_level(probes: Sequence[Probe], hang_s: float) -> tuple[float, float]:
    """(error rate, p95 latency in s) of a phase; every request counts, a failed one at the time it waited."""
    if not probes:
        return 0.0, 0.0
    errors = sum(_bad(p, hang_s) for p in probes) / len(probes)
    return errors, float(np.percentile([p.latency_s for p in probes], 95))


def _timeline(probes: Sequence[Probe], window: FaultWindow, hang_s: float) -> list[list[float | None]]:
    """[seconds since injection, requests, error rate, p95 ms] per 0.5 s bucket, for charts."""
    rows: list[list[float | None]] = []
    t = window.normal_from
    while t < window.observed_until:
        inside = [p for p in probes if t <= p.scheduled < t + BUCKET_S]
        errors, p95 = _normal_level(inside, hang_s)
        rows.append([round(t - window.injected, 2), len(inside), round(errors, 4), round(p95 * 1000, 2)])
        t += BUCKET_S
    return rows


def _recovery(
    probes: Sequence[Probe], window: FaultWindow, normal: tuple[float, float], hang_s: float
) -> tuple[float, bool]:
    """Seconds after clearing until 0.5 s buckets are normal and stay so; (lower bound, False) if never."""
    error_limit = normal[0] + 0.02
    latency_limit = max(3 * normal[1], normal[1] + 0.05)
    span = window.observed_until - window.cleared
    n_buckets = max(int(span / BUCKET_S), 1)
    ok: list[bool] = []
    for b in range(n_buckets):
        lo, hi = window.cleared + b * BUCKET_S, window.cleared + (b + 1) * BUCKET_S
        inside = [p for p in probes if lo <= p.scheduled < hi]
        errors, p95 = _normal_level(inside, hang_s)
        ok.append(bool(inside) and errors <= error_limit and p95 <= latency_limit)
    for b in range(n_buckets - STABLE_BUCKETS + 1):
        if all(ok[b:]) and len(ok[b:]) >= STABLE_BUCKETS:
            return b * BUCKET_S, True
    return span, False


def _run_faults(
    ctx: ScenarioContext, params: dict[str, Any], windows: list[FaultWindow], skipped: dict[str, str], stop: Any
) -> None:
    time.sleep(params["warmup_s"])  # the freshly started service's first reads are not "normal"
    for name in params["faults"]:
        window = FaultWindow(name, normal_from=time.monotonic())
        time.sleep(params["normal_s"])
        ctx.log(f"fault {name}: on for {params['fault_s']:g} s")
        try:
            with _fault(name, ctx, params):
                window.injected = time.monotonic()
                time.sleep(params["fault_s"])
        except FaultUnavailable as exc:
            skipped[name] = str(exc)
            continue
        finally:
            if window.injected:
                window.cleared = time.monotonic()
                windows.append(window)
        time.sleep(params["recover_s"])
        window.observed_until = time.monotonic()
    stop()


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    for name in params["faults"]:
        if name not in FAULTS:
            raise ScenarioError(f"unknown fault {name!r}; known faults: {', '.join(FAULTS)}")
    if params["request_timeout_s"] <= params["hang_threshold_s"]:
        raise ScenarioError("request_timeout_s must exceed hang_threshold_s (a hang must be seen to be counted)")
    path_for = _paths(ctx, params["seed"])
    total_s = len(params["faults"]) * (params["normal_s"] + params["fault_s"] + params["recover_s"]) + 60.0
    windows: list[FaultWindow] = []
    skipped: dict[str, str] = {}
    probes: list[Probe] = []
    loop = asyncio.new_event_loop()
    stop_event = asyncio.Event()

    def stream() -> None:
        async def go() -> list[Probe]:
            return await open_stream(
                ctx.target_url,
                path_for,
                rate_rps=params["rate_rps"],
                duration_s=total_s,
                timeout_s=params["request_timeout_s"],
                stop=stop_event,
            )

        probes.extend(loop.run_until_complete(go()))

    thread = threading.Thread(target=stream, name="fault-load", daemon=True)
    with _poll_breakers(ctx, params["poll_s"]) as breakers:
        thread.start()
        try:
            _run_faults(ctx, params, windows, skipped, lambda: loop.call_soon_threadsafe(stop_event.set))
        finally:
            loop.call_soon_threadsafe(stop_event.set)
            thread.join(timeout=params["request_timeout_s"] + 30.0)
            if thread.is_alive():  # its requests would silently drop out of every figure
                raise ScenarioError("the request stream did not finish: its requests cannot all be counted")
            loop.close()
    if not windows:
        raise ScenarioError(f"no fault could be injected: {skipped}")
    if not probes:
        raise ScenarioError("the request stream recorded no request (see the log for its error)")
    _summarize(ctx, result, params, probes, windows, breakers, skipped)


def _summarize(
    ctx: ScenarioContext,
    result: ScenarioResult,
    params: dict[str, Any],
    probes: list[Probe],
    windows: list[FaultWindow],
    breakers: BreakerLog,
    skipped: dict[str, str],
) -> None:
    hang_s = params["hang_threshold_s"]
    probes = [p for p in probes if p.scheduled >= windows[0].normal_from]  # without the warm-up
    lag = send_lag_ms(probes, 50)
    if lag > params["lag_tolerance_ms"]:
        ctx.invalidate(
            f"load generator fell behind: requests sent {lag:.0f} ms late at the median "
            f"(tolerance {params['lag_tolerance_ms']:g} ms)"
        )
    in_fault = [p for p in probes if any(w.injected <= p.scheduled < w.cleared for w in windows)]
    per_fault: list[dict[str, Any]] = []
    recovery: list[float] = []
    breaker_open: list[float] = []
    for w in windows:
        normal = _normal_level([p for p in probes if w.normal_from <= p.scheduled < w.injected], hang_s)
        during = [p for p in probes if w.injected <= p.scheduled < w.cleared]
        seconds, recovered = _recovery(probes, w, normal, hang_s)
        recovery.append(seconds)
        opened = breakers.first_open(w.injected, w.cleared)
        if opened is not None:
            breaker_open.append(opened[0] - w.injected)
        waited = [p.latency_s * 1000 for p in during]  # every request, a failed one at the time it waited
        per_fault.append(
            {
                "fault": w.name,
                "requests": len(during),
                "error_rate": sum(_bad(p, hang_s) for p in during) / len(during) if during else None,
                "status_counts": _status_counts(during),
                "latency_p50_ms": float(np.percentile(waited, 50)) if waited else None,
                "latency_p95_ms": float(np.percentile(waited, 95)) if waited else None,
                "normal_error_rate": normal[0],
                "normal_p95_ms": normal[1] * 1000,
                "breaker": {"opened_after_s": opened[0] - w.injected, "names": opened[1]}
                if opened
                else "no breaker opened",
                "recovery_time_s": seconds,
                "recovered": recovered,
                "hung_requests": sum(1 for p in during if _hung(p, hang_s)),
                "timeline": _timeline(probes, w, hang_s),
            }
        )
    available = sum(1 for p in probes if not _bad(p, hang_s))
    ctx.record("availability", available / len(probes))
    if in_fault:
        ctx.record("fault_error_rate", sum(_bad(p, hang_s) for p in in_fault) / len(in_fault))
    unrecovered = [f["recovery_time_s"] for f in per_fault if not f["recovered"]]
    # a fault not recovered within the observation makes every sample a lower bound of its recovery
    ctx.record("recovery_time_s", recovery, bound="at_least" if unrecovered else "exact")
    ctx.record("breaker_open_time_s", breaker_open)
    ctx.record("hung_requests", sum(1 for p in probes if _hung(p, hang_s)))
    result.details.update(
        {
            "faults": per_fault,
            "skipped": skipped,
            "requests": len(probes),
            "send_lag_p50_ms": round(lag, 2),
            "send_lag_p99_ms": round(send_lag_ms(probes, 99), 2),
            "breaker_polls": len(breakers.samples),
            "breaker_poll_errors": breakers.errors,
            "metric_samples": "availability, fault_error_rate, hung_requests: whole run; "
            "recovery_time_s, breaker_open_time_s: one sample per fault",
        }
    )


def _status_counts(probes: Sequence[Probe]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in probes:
        key = str(p.status) if p.status is not None else (p.error or "no answer")
        counts[key] = counts.get(key, 0) + 1
    return counts


SCENARIO = Scenario(
    name="resilience_faults",
    description="Faults under steady load: availability, breaker open time, recovery time, hung requests",
    run=run,
    defaults=DEFAULTS,
    area="resilience",
    metrics=(
        MetricSpec(
            "availability",
            "fraction",
            "higher",
            "resilience",
            "share of requests answered well (no 5xx, not hung) across the fault runs",
        ),
        MetricSpec(
            "breaker_open_time_s", "s", "lower", "resilience", "seconds a circuit breaker stayed open per fault"
        ),
        MetricSpec(
            "recovery_time_s",
            "s",
            "lower",
            "resilience",
            "seconds after a fault cleared until traffic was normal again",
        ),
        MetricSpec(
            "fault_error_rate", "fraction", "lower", "resilience", "share of requests that failed while a fault was on"
        ),
        MetricSpec(
            "hung_requests", "requests", "lower", "resilience", "requests unanswered or slower than the hang limit"
        ),
    ),
)
