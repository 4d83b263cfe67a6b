"""target_latency: latency, throughput and capacity of a service athbench did not start (`--target URL`).

The requests come from the user's endpoint list (`--endpoints FILE.toml`, see `harness.load.endpoints`)
or locustfile (`--locustfile FILE`). For each arrival rate in `rates` (ascending) one open-model load phase
runs, `repetitions` times, warm-up excluded; latency is timed from each request's scheduled start
(coordinated-omission corrected). The metrics are those of the first rate (the nominal load):
`latency_p50_ms`, `latency_p95_ms`, `latency_p99_ms`, `throughput_rps`, `error_rate`; and over all rates
`max_sustainable_rps`, the highest rate whose p95 stayed within `slo_p95_ms` with errors within
`error_budget`, and which the target kept up with (0 when none did). With `--target-pid` the given
processes are sampled too: `service_cpu_percent` (of one core, over the nominal-rate phases' windows)
and `service_rss_mb` (the largest over the run). Validity is the harness's one policy: a phase whose load
generator was saturated or late makes the run invalid; one where the target did not keep up (backlog)
is a capacity limit, and its percentiles are lower bounds.

details: `phases` (rate, repetition, percentiles corrected and uncorrected, throughput, errors, validity,
`hit_ratio` (the window's share of `X-Cache: HIT` among the answers that carried one; None without), and
`traffic`: what request templates sent and the X-Cache hit ratio, `LoadResult.traffic`).
"""

from __future__ import annotations

from typing import Any

from harness.load import OpenPlan
from scenarios.base import MetricSpec, Phase, Scenario, ScenarioContext, ScenarioError, ScenarioResult

DEFAULTS: dict[str, Any] = {
    "rates": [100.0, 200.0, 400.0],
    "duration_s": 5.0,
    "warmup_s": 1.0,
    "repetitions": 1,
    "users": 64,
    "slo_p95_ms": 100.0,
    "error_budget": 0.01,
}


def _within(phase: Phase, params: dict[str, Any]) -> bool:
    """Did the target sustain this phase: kept up, p95 within the SLO, errors within the budget?"""
    p95 = phase.latency_ms("p95")
    return (
        phase.fault is None and phase.overloaded is None and p95 is not None and p95 <= params["slo_p95_ms"]
        and phase.load.overall.error_rate <= params["error_budget"]
    )  # fmt: skip


def _record_nominal(ctx: ScenarioContext, phase: Phase) -> None:
    for key in ("p50", "p95", "p99"):
        ctx.record(f"latency_{key}_ms", phase.latency_ms(key), bound=phase.bound)
    ctx.record("throughput_rps", phase.load.overall.throughput_rps)
    ctx.record("error_rate", phase.load.overall.error_rate)
    ctx.record("service_cpu_percent", phase.mean("cpu_percent.total"))


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if ctx.endpoints is None and ctx.locustfile is None:
        raise ScenarioError("target_latency needs --endpoints FILE.toml or --locustfile FILE with --target URL")
    rates = sorted(float(r) for r in params["rates"])
    if not rates or rates[0] <= 0:
        raise ScenarioError(f"rates must be positive arrival rates, got {params['rates']}")
    sustained = 0.0
    phases: list[dict[str, Any]] = result.details.setdefault("phases", [])
    with ctx.sampling() as sampled:
        for rate in rates:
            within = True
            for rep in range(params["repetitions"]):
                ctx.log(f"{rate:g} req/s for {params['duration_s']:g} s (repetition {rep + 1})")
                plan = OpenPlan.constant(rate, params["duration_s"], users=params["users"], seed=rep + 1)
                phase = ctx.load_phase(plan, label=f"{rate:g} req/s, repetition {rep + 1}", warmup_s=params["warmup_s"])
                within &= _within(phase, params)
                overall = phase.load.overall
                phases.append(
                    {
                        "rate": rate,
                        "repetition": rep + 1,
                        "corrected": overall.corrected,
                        "uncorrected": overall.uncorrected,
                        "throughput_rps": overall.throughput_rps,
                        "errors": overall.errors,
                        "valid": phase.fault is None,
                        "overloaded": phase.overloaded,
                        "invalid_reason": phase.load.invalid_reason,
                        "hit_ratio": overall.cache_hit_ratio,  # None when the target marks no X-Cache
                        "traffic": phase.load.traffic(),  # templates sent, X-Cache hit ratio and split
                    }
                )
                if rate == rates[0]:
                    _record_nominal(ctx, phase)
            if not within:
                break
            sustained = rate
    ctx.record("max_sustainable_rps", sustained)
    if sampled is not None:
        rss = [v for v in sampled.series("rss_mb.total")["v"] if v is not None]
        ctx.record("service_rss_mb", max(rss) if rss else None)


SCENARIO = Scenario(
    name="target_latency",
    description="Latency, throughput and capacity of a service athbench did not start (--target)",
    run=run,
    defaults=DEFAULTS,
    needs_stack=False,
    area="latency",
    metrics=(
        MetricSpec(
            "latency_p50_ms",
            "ms",
            "lower",
            "latency",
            "median latency at the first (nominal) rate, timed from each request's scheduled start",
        ),
        MetricSpec(
            "latency_p95_ms",
            "ms",
            "lower",
            "latency",
            "95th percentile latency at the nominal rate (coordinated-omission corrected)",
        ),
        MetricSpec(
            "latency_p99_ms",
            "ms",
            "lower",
            "latency",
            "99th percentile latency at the nominal rate (coordinated-omission corrected)",
        ),
        MetricSpec("throughput_rps", "req/s", "higher", "latency", "requests completed per second at the nominal rate"),
        MetricSpec("error_rate", "fraction", "lower", "latency", "share of requests that failed at the nominal rate"),
        MetricSpec(
            "max_sustainable_rps",
            "req/s",
            "higher",
            "scalability",
            "highest tried rate whose p95 and errors stayed within the SLO (0 if none)",
        ),
        MetricSpec(
            "service_cpu_percent", "%", "lower", "cpu", "mean CPU of the --target-pid processes, in % of one core"
        ),
        MetricSpec("service_rss_mb", "MB", "lower", "memory", "largest resident memory of the --target-pid processes"),
    ),
)
