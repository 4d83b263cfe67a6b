"""api_latency: p50/p95/p99 of the endpoint mix under an open-model arrival rate (default 500 req/s).

Each repetition is one load phase (`harness.load.run_load`, warm-up excluded) of the standard mix
(`harness.workload`) against the running service; one sample per repetition. Latencies are timed from
each request's scheduled start (coordinated-omission corrected) and those are the metrics; the
uncorrected figures are in details. The service's processes are sampled at 10 Hz alongside
(`harness.sampler`): `service_cpu_percent` is their CPU in % of one core over the measured window.
A repetition whose load generator was saturated or fell behind its schedule makes the run invalid. A
repetition where the *service* did not keep up (every user busy, sends late: `validity.limited_by` is
`backlog`) stays valid and is reported in `details["overloaded"]`: its percentiles are lower bounds.
With `pin_cpus` the service gets all CPUs but the last and the generator the last (`harness.phase.pinned`);
off by default, because on a machine shared with other work pinning starves the service.

details: `per_endpoint` (per kind and repetition: count, error rate, corrected/uncorrected percentiles),
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
from typing import TYPE_CHECKING, Any

from harness.load.plan import OpenPlan
from harness.phase import SampledRun, generator_fault, pinned, schedstat_seconds, service_sampler
from harness.results import Metric, ScenarioResult, TimeSeries
from harness.workload import by_kind, describe_mix, endpoint_mix, percentile_spectrum, seeded_properties
from scenarios.base import Scenario, ScenarioContext

if TYPE_CHECKING:
    from harness.stack import Stack

SERVER_ERROR_KINDS = ("http_5xx", "connection_error", "timeout", "other")
METRICS: dict[str, tuple[str, str]] = {
    "latency_p50_ms": ("ms", "lower"),
    "latency_p95_ms": ("ms", "lower"),
    "latency_p99_ms": ("ms", "lower"),
    "throughput_rps": ("req/s", "higher"),
    "error_rate": ("fraction", "lower"),
    "server_error_rate": ("fraction", "lower"),
    "service_cpu_percent": ("%", "lower"),
}


def server_error_rate(errors: dict[str, int], count: int) -> float:
    """5xx answers and requests that got no answer at all, as a fraction of requests."""
    return sum(errors.get(kind, 0) for kind in SERVER_ERROR_KINDS) / count if count else 0.0


def cpu_wait_seconds(stack: Stack) -> float:
    """Seconds the service's threads have waited, runnable, for a CPU (0 where schedstat is unavailable)."""
    wait = 0.0
    for process in stack.service_processes():
        try:
            wait += schedstat_seconds(process.pid)[1]
        except (OSError, ValueError, IndexError):
            continue
    return wait


def publish(result: ScenarioResult, samples: dict[str, list[float]]) -> None:
    """Metrics from the repetitions so far (called after each one, so an interrupted run keeps them)."""
    for name, values in samples.items():
        if values:
            unit, better = METRICS[name]
            result.metrics[name] = Metric.from_samples(values, unit=unit, better=better)  # type: ignore[arg-type]


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    stack = ctx.require_stack()
    endpoints = endpoint_mix(seeded_properties(stack), variants=params["variants"], seed=params["seed"])
    samples: dict[str, list[float]] = {name: [] for name in METRICS}
    per_endpoint: list[dict[str, Any]] = []
    uncorrected: list[dict[str, float] | None] = []
    validity: list[dict[str, Any]] = []
    throughput_t: list[float] = []
    throughput_v: list[float] = []
    p95_v: list[float] = []
    invalid: list[str] = []
    overloaded: list[str] = []
    cpu_wait: list[float] = []
    offset = 0.0
    with (
        pinned(stack.service_processes()[0].pid, params["pin_cpus"]) as affinity,
        SampledRun(service_sampler(stack)) as sampled,
    ):
        for rep in range(params["repetitions"]):
            ctx.log(
                f"repetition {rep + 1}/{params['repetitions']}: {params['rate']:g} req/s for {params['duration_s']:g} s"
            )
            plan = OpenPlan.constant(
                params["rate"], params["duration_s"], users=params["users"], arrival="poisson", seed=rep + 1
            )
            wait0 = cpu_wait_seconds(stack)
            wall0 = time.perf_counter()
            load, window = sampled.load(
                ctx.target_url,
                plan,
                endpoints,
                ctx.artifacts_dir / f"api_latency-{ctx.profile}-rep{rep + 1}",
                warmup_s=params["warmup_s"],
                cpu_affinity=affinity.generator,
            )
            cpu_wait.append(100.0 * (cpu_wait_seconds(stack) - wait0) / (time.perf_counter() - wall0))
            overall = load.overall
            validity.append({"valid": load.valid, "reason": load.invalid_reason, **load.validity})
            fault = generator_fault(load)
            if fault:
                invalid.append(f"repetition {rep + 1}: {fault}")
            elif not load.valid:
                overloaded.append(f"repetition {rep + 1}: {load.invalid_reason}")
            for key in ("p50", "p95", "p99"):
                value = overall.latency_ms(key)
                if value is not None:
                    samples[f"latency_{key}_ms"].append(value)
            samples["throughput_rps"].append(overall.throughput_rps)
            samples["error_rate"].append(overall.error_rate)
            samples["server_error_rate"].append(server_error_rate(overall.errors, overall.count))
            cpu = sampled.mean("cpu_percent.service", window)
            if cpu is not None:
                samples["service_cpu_percent"].append(cpu)
            uncorrected.append(overall.uncorrected)
            per_endpoint.append(by_kind(load.endpoints, load.duration_s))
            series = load.timeseries
            throughput_t.extend(offset + t for t in series["throughput_rps"]["t"])
            throughput_v.extend(series["throughput_rps"]["v"])
            p95_v.extend(series["latency_p95_ms"]["v"])
            offset += params["duration_s"]
            result.details["spectrum"] = {
                which: percentile_spectrum(overall.histograms[which]) for which in ("corrected", "uncorrected")
            }
            publish(result, samples)
    result.timeseries["throughput_rps"] = TimeSeries("req/s", throughput_t, [float(v) for v in throughput_v])
    result.timeseries["latency_p95_ms"] = TimeSeries(
        "ms", throughput_t, [float("nan") if v is None else float(v) for v in p95_v]
    )
    for name, key, unit in (
        ("service_cpu_percent", "cpu_percent.service", "%"),
        ("service_rss_mb", "rss_mb.service", "MB"),
    ):
        series = sampled.series(key)
        result.timeseries[name] = TimeSeries(unit, list(series["t"]), list(series["v"]))
    result.details.update(
        mix=describe_mix(params["variants"]),
        per_endpoint=per_endpoint,
        service_cpu_wait_percent=cpu_wait,
        uncorrected=uncorrected,
        validity=validity,
        sampler_cost=sampled.sampler.result().cost,
        measured_windows=[[w.start, w.end] for w in sampled.windows],
        load_generator={
            "placement": "same machine as the service",
            "cpus": os.cpu_count(),
            "affinity": affinity.to_dict(),
            "note": "PostgreSQL and Redis are not pinned; see validity for the generator's own CPU use",
        },
        latency_basis="corrected for coordinated omission (timed from each request's scheduled start)",
    )
    if overloaded:
        result.details["overloaded"] = {
            "reasons": overloaded,
            "note": (
                "the service did not keep up with the offered rate (every user busy, sends late or never sent): "
                "a valid measurement of an overloaded service; the percentiles miss the requests never sent, "
                "so they are lower bounds"
            ),
        }
    if invalid:
        result.status = "invalid"
        result.reason = "; ".join(invalid)


SCENARIO = Scenario(
    name="api_latency",
    description="p50/p95/p99 of the endpoint mix under an open-model arrival rate",
    run=run,
    defaults={
        "rate": 500.0,
        "duration_s": 20.0,
        "warmup_s": 3.0,
        "repetitions": 3,
        "users": 200,
        "variants": 5,
        "seed": 0,
        "pin_cpus": False,
    },
    area="latency",
)
