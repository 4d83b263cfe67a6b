"""target_latency: latency, throughput and capacity of a service athbench did not start (`--target URL`).

The requests come from the user's endpoint list (`--endpoints FILE.toml`, see `harness.load.endpoints`)
or locustfile (`--locustfile FILE`). For each arrival rate in `rates` (ascending) one open-model load phase
runs, `repetitions` times, warm-up excluded; latency is timed from each request's scheduled start
(coordinated-omission corrected). The metrics are those of the first rate (the nominal load):
`latency_p50_ms`, `latency_p95_ms`, `latency_p99_ms`, `throughput_rps`, `error_rate`; and over all rates
`max_sustainable_rps`, the highest rate whose p95 stayed within `slo_p95_ms` with errors within
`error_budget` (0 when none did). With `--target-pid` the given processes are sampled too:
`service_cpu_percent` (of one core) and `service_rss_mb`. A phase whose load generator was saturated or
late makes the run invalid; one where the target did not keep up (backlog) is a capacity limit.

details: `phases` (rate, repetition, percentiles corrected and uncorrected, throughput, errors, validity).
"""

from __future__ import annotations

from typing import Any

import psutil

from harness.load import OpenPlan, run_load
from harness.phase import generator_fault
from harness.results import Metric, ScenarioResult
from harness.sampler import Sampler
from scenarios.base import Scenario, ScenarioContext, ScenarioError

DEFAULTS: dict[str, Any] = {
    "rates": [100.0, 200.0, 400.0],
    "duration_s": 5.0,
    "warmup_s": 1.0,
    "repetitions": 1,
    "users": 64,
    "slo_p95_ms": 100.0,
    "error_budget": 0.01,
}


def _sampler(ctx: ScenarioContext) -> Sampler | None:
    if not ctx.target_pids:
        return None
    try:
        roots = {f"pid{pid}": psutil.Process(pid) for pid in ctx.target_pids}
    except psutil.Error as exc:
        raise ScenarioError(f"cannot sample --target-pid: {exc}") from exc
    return Sampler(roots, interval_s=0.1)


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if ctx.endpoints is None and ctx.locustfile is None:
        raise ScenarioError("target_latency needs --endpoints FILE.toml or --locustfile FILE with --target URL")
    rates = sorted(float(r) for r in params["rates"])
    if not rates or rates[0] <= 0:
        raise ScenarioError(f"rates must be positive arrival rates, got {params['rates']}")
    nominal: dict[str, list[float]] = {}
    sustained = 0.0
    phases: list[dict[str, Any]] = []
    invalid: list[str] = []
    sampler = _sampler(ctx)
    if sampler is not None:
        sampler.start()
    try:
        for rate in rates:
            within = True
            for rep in range(params["repetitions"]):
                ctx.log(f"{rate:g} req/s for {params['duration_s']:g} s (repetition {rep + 1})")
                plan = OpenPlan.constant(rate, params["duration_s"], users=params["users"], seed=rep + 1)
                load = run_load(
                    ctx.target_url,
                    plan,
                    endpoints=ctx.endpoints or (),
                    locustfile=ctx.locustfile,
                    warmup_s=params["warmup_s"],
                )
                overall = load.overall
                fault = generator_fault(load)
                if fault:
                    invalid.append(f"{rate:g} req/s: {fault}")
                p95 = overall.latency_ms("p95")
                within &= (
                    load.valid and p95 is not None and p95 <= params["slo_p95_ms"]
                    and overall.error_rate <= params["error_budget"]
                )  # fmt: skip
                phases.append(
                    {
                        "rate": rate,
                        "repetition": rep + 1,
                        "corrected": overall.corrected,
                        "uncorrected": overall.uncorrected,
                        "throughput_rps": overall.throughput_rps,
                        "errors": overall.errors,
                        "valid": load.valid,
                        "invalid_reason": load.invalid_reason,
                    }
                )
                if rate == rates[0]:
                    for key in ("p50", "p95", "p99"):
                        value = overall.latency_ms(key)
                        if value is not None:
                            nominal.setdefault(f"latency_{key}_ms", []).append(value)
                    nominal.setdefault("throughput_rps", []).append(overall.throughput_rps)
                    nominal.setdefault("error_rate", []).append(overall.error_rate)
            if not within:
                break
            sustained = rate
    finally:
        sampled = sampler.stop() if sampler is not None else None
    units = {"throughput_rps": ("req/s", "higher"), "error_rate": ("fraction", "lower")}
    for name, values in nominal.items():
        unit, better = units.get(name, ("ms", "lower"))
        result.metrics[name] = Metric.from_samples(values, unit=unit, better=better)  # type: ignore[arg-type]
    result.metrics["max_sustainable_rps"] = Metric.single(sustained, unit="req/s", better="higher")
    if sampled is not None:
        data = sampled.to_dict()
        cpu = [v for v in data["series"].get("cpu_percent.total", {}).get("v", []) if v is not None]
        rss = [v for v in data["series"].get("rss_mb.total", {}).get("v", []) if v is not None]
        if cpu:
            result.metrics["service_cpu_percent"] = Metric.single(sum(cpu) / len(cpu), unit="%", better="lower")
        if rss:
            result.metrics["service_rss_mb"] = Metric.single(max(rss), unit="MB", better="lower")
    result.details["phases"] = phases
    if invalid:
        result.status = "invalid"
        result.reason = "load generator saturated or late: " + "; ".join(invalid)


SCENARIO = Scenario(
    name="target_latency",
    description="Latency, throughput and capacity of a service athbench did not start (--target)",
    run=run,
    defaults=DEFAULTS,
    needs_stack=False,
    area="latency",
)
