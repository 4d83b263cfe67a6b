"""api_latency: p50/p95/p99 of the endpoint mix under an open-model arrival rate (default 500 req/s).

Each repetition is one load phase (warm-up excluded) of the standard mix (`harness.workload`: Zipf over
every seeded property, user and neighbourhood, with PATCH and POST writes; `zipf_s`, `write_share_patch`,
`write_share_post` are parameters) against the running service; one sample per repetition.
`window_hit_ratio` says which path was measured: the share of the window's answers marked
`X-Cache: HIT` among those marked at all (the POSTs are not cacheable). Latencies are timed from each
request's scheduled start (coordinated-omission corrected) and those are the metrics; the uncorrected
figures are in details. The service's processes are
sampled at 10 Hz alongside: `service_cpu_percent` is their CPU in % of one core over the measured window.
Validity is the harness's one policy (`scenarios.base`): a repetition whose load generator was saturated
or late makes the run invalid; one where the *service* did not keep up (backlog) stays valid, is listed in
`details["overloaded"]`, and its percentiles are recorded as lower bounds ("at least").
With `pin_cpus` the service gets all CPUs but the last and the generator the last; off by default,
because on a machine shared with other work pinning starves the service.

details: `per_endpoint` (per kind and repetition: count, error rate, corrected/uncorrected percentiles),
`hit_ratio` (per repetition), `by_cache` (per repetition: count, p50 and p95 of hits and misses apart,
overall and per kind), `traffic` (per repetition, `LoadResult.traffic`: what the templates sent - distinct
ids, hottest-1 % share - and the X-Cache split), `mix` (shares, sources, populations),
`uncorrected` (overall percentiles per repetition), `service_cpu_wait_percent` (per repetition: time the
service's threads were runnable but waiting for a CPU, as % of wall time; high values mean the machine
was contended and latencies include that wait), `spectrum` (percentile spectrum of the last
repetition, corrected and uncorrected), `validity` (per repetition), `sampler_cost`, `load_generator`
(where it ran: the same 2-core machine as the service). timeseries: `throughput_rps`, `latency_p95_ms`
(per second, all repetitions back to back), `service_cpu_percent`, `service_rss_mb` (sampler).
"""

from __future__ import annotations

import os
import time
from typing import Any

from harness.load import EndpointResult, LoadResult, OpenPlan
from scenarios.base import (
    MIX_DEFAULTS,
    MetricSpec,
    Phase,
    Scenario,
    ScenarioContext,
    ScenarioResult,
    TimeSeries,
    by_kind,
    describe_mix,
    endpoint_mix,
    mix_options,
    percentile_spectrum,
    phase_seed,
)

SERVER_ERROR_KINDS = ("http_5xx", "connection_error", "timeout", "other")
CORRECTED = "timed from each request's scheduled start (coordinated-omission corrected)"
METRICS = (
    MetricSpec("latency_p50_ms", "ms", "lower", "latency", f"median latency of the endpoint mix, {CORRECTED}"),
    MetricSpec("latency_p95_ms", "ms", "lower", "latency", f"95th percentile latency of the mix, {CORRECTED}"),
    MetricSpec("latency_p99_ms", "ms", "lower", "latency", f"99th percentile latency of the mix, {CORRECTED}"),
    MetricSpec("throughput_rps", "req/s", "higher", "latency", "requests completed per second of the window"),
    MetricSpec("error_rate", "fraction", "lower", "latency", "share of requests that failed (any non-2xx or none)"),
    MetricSpec("server_error_rate", "fraction", "lower", "latency", "share of requests answered 5xx or not at all"),
    MetricSpec("service_cpu_percent", "%", "lower", "cpu", "CPU of the service's processes, in % of one core"),
    MetricSpec(
        "window_hit_ratio",
        "fraction",
        "none",
        "latency",
        "share of the window's X-Cache-marked answers that were cache hits: which path the percentiles describe",
    ),
)


def server_error_rate(errors: dict[str, int], count: int) -> float:
    """5xx answers and requests that got no answer at all, as a fraction of requests."""
    return sum(errors.get(kind, 0) for kind in SERVER_ERROR_KINDS) / count if count else 0.0


def record(ctx: ScenarioContext, phase: Phase) -> None:
    """One repetition's samples: percentiles (lower bounds when the phase was backlogged), rates, CPU."""
    overall = phase.load.overall
    for key in ("p50", "p95", "p99"):
        ctx.record(f"latency_{key}_ms", phase.latency_ms(key), bound=phase.bound)
    ctx.record("throughput_rps", overall.throughput_rps)
    ctx.record("error_rate", overall.error_rate)
    ctx.record("server_error_rate", server_error_rate(overall.errors, overall.count))
    ctx.record("service_cpu_percent", phase.mean("cpu_percent.service"))
    ctx.record("window_hit_ratio", overall.cache_hit_ratio)


def cache_split(load: LoadResult) -> dict[str, Any]:
    """Latency of cache hits and misses apart (X-Cache), overall and per kind: count, p50 and p95."""

    def split(result: EndpointResult) -> dict[str, Any]:
        return {
            status: {"count": sub.count, "p50_ms": sub.latency_ms("p50"), "p95_ms": sub.latency_ms("p95")}
            for status, sub in result.by_cache.items()
        }

    return {
        "hit_ratio": load.overall.cache_hit_ratio,
        "overall": split(load.overall),
        "by_kind": {name: split(e) for name, e in load.endpoints.items() if e.by_cache},
    }


def keep_details(result: ScenarioResult, phase: Phase, offset: float) -> None:
    """Per-repetition details and the per-second series, appended (all repetitions back to back)."""
    load, details = phase.load, result.details
    details.setdefault("uncorrected", []).append(load.overall.uncorrected)
    details.setdefault("per_endpoint", []).append(by_kind(load.endpoints, load.duration_s))
    details.setdefault("hit_ratio", []).append(load.overall.cache_hit_ratio)
    details.setdefault("by_cache", []).append(cache_split(load))
    details.setdefault("traffic", []).append(load.traffic())
    details.setdefault("validity", []).append({"valid": load.valid, "reason": load.invalid_reason, **load.validity})
    details["spectrum"] = {w: percentile_spectrum(load.overall.histograms[w]) for w in ("corrected", "uncorrected")}
    throughput = load.timeseries["throughput_rps"]
    p95 = [float("nan") if v is None else float(v) for v in load.timeseries["latency_p95_ms"]["v"]]
    t = [offset + s for s in throughput["t"]]
    for name, unit, values in (("throughput_rps", "req/s", throughput["v"]), ("latency_p95_ms", "ms", p95)):
        series = result.timeseries.setdefault(name, TimeSeries(unit, [], []))
        series.t.extend(t)
        series.v.extend(float(v) for v in values)


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    endpoints = endpoint_mix(
        ctx.data.properties, users=ctx.data.users, admin_headers=ctx.admin_headers(), **mix_options(params)
    )
    cpu_wait: list[float] = []
    with ctx.pinned(params["pin_cpus"]) as affinity, ctx.sampling() as sampled:
        assert sampled is not None  # the stack's service is always sampled
        for rep in range(params["repetitions"]):
            ctx.log(
                f"repetition {rep + 1}/{params['repetitions']}: {params['rate']:g} req/s for {params['duration_s']:g} s"
            )
            plan = OpenPlan.constant(
                params["rate"], params["duration_s"], users=params["users"], arrival="poisson", seed=rep + 1
            )
            wait0, wall0 = ctx.service_cpu_seconds()[1], time.perf_counter()
            phase = ctx.load_phase(
                plan,
                endpoints,
                label=f"repetition {rep + 1}",
                # the service was just started: its pool, caches and the database's buffers fill during the
                # first seconds of traffic, which a steady-state p95 leaves out (settle_s, unmeasured)
                warmup_s=params["warmup_s"] + (params["settle_s"] if rep == 0 else 0.0),
                cpu_affinity=affinity.generator,
                seed=phase_seed("api_latency", rep),
            )
            cpu_wait.append(100.0 * (ctx.service_cpu_seconds()[1] - wait0) / (time.perf_counter() - wall0))
            record(ctx, phase)
            keep_details(result, phase, rep * params["duration_s"])
    for name, key, unit in (
        ("service_cpu_percent", "cpu_percent.service", "%"),
        ("service_rss_mb", "rss_mb.service", "MB"),
    ):
        series = sampled.series(key)
        result.timeseries[name] = TimeSeries(unit, list(series["t"]), list(series["v"]))
    result.details.update(
        mix=describe_mix(endpoints),
        service_cpu_wait_percent=cpu_wait,
        sampler_cost=sampled.cost,
        measured_windows=[[w.start, w.end] for w in sampled.windows],
        load_generator={
            "placement": "same machine as the service",
            "cpus": os.cpu_count(),
            "affinity": affinity.to_dict(),
            "note": "PostgreSQL and Redis are not pinned; see validity for the generator's own CPU use",
        },
        latency_basis="corrected for coordinated omission (timed from each request's scheduled start)",
    )


SCENARIO = Scenario(
    name="api_latency",
    description="p50/p95/p99 of the endpoint mix under an open-model arrival rate",
    run=run,
    defaults={
        "rate": 500.0,
        "duration_s": 20.0,
        "warmup_s": 3.0,
        "settle_s": 5.0,
        "repetitions": 3,
        "users": 200,
        **MIX_DEFAULTS,
        "pin_cpus": False,
    },
    area="latency",
    metrics=METRICS,
)
