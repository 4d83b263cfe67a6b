"""horizontal_scaling: throughput and p95 of the mix with 1, 2, ... service processes (uvicorn workers).

For each repetition, for each worker count in `workers` (in order, so counts alternate across
repetitions: 1 2 1 2 ...), the service is restarted with that many uvicorn worker processes sharing
PostgreSQL and Redis (except for the very first point when the running service, freshly started by the
runner, already has that many), and a closed-model load phase of `users` users sends the standard mix for
`duration_s` (after `warmup_s`). Throughput counts answered requests without errors.

`throughput_1_rps` / `throughput_2_rps` are the throughputs at 1 and 2 processes (when measured) and
`scaling_efficiency_2` = X(2) / (2 X(1)) per repetition. With four or more distinct worker counts the
points are fitted with the Universal Scalability Law (`harness.usl`, N = processes) into
`details["usl"]`.

Honesty note, recorded in `details["machine"]`: on a small machine the load generator, PostgreSQL and
Redis share the same cores as the service processes, so the second process competes with them; the
figures measure this machine, not a cluster of dedicated hosts. The generator's own CPU per phase is in
`details["points"]`. The scenario leaves the service with the last worker count; the runner restarts it.
"""

from __future__ import annotations

from typing import Any

from harness.load.plan import ClosedPlan
from harness.load.runner import run_load
from harness.phase import generator_fault
from harness.results import Metric, ScenarioResult
from harness.usl import UslError, fit_usl
from harness.workload import endpoint_mix, seeded_properties
from scenarios._support import closed_phase_point, finish_closed_phases
from scenarios.base import Scenario, ScenarioContext, ScenarioError


def publish(result: ScenarioResult, points: list[dict[str, Any]]) -> dict[int, list[float]]:
    """Metrics from the points so far (after each one, so an interrupted run keeps them); throughputs by count."""
    by_count: dict[int, list[float]] = {}
    for point in points:
        by_count.setdefault(point["workers"], []).append(point["throughput_rps"])
    for n in (1, 2):
        if n in by_count:
            result.metrics[f"throughput_{n}_rps"] = Metric.from_samples(by_count[n], unit="req/s", better="higher")
    if 1 in by_count and 2 in by_count:
        pairs = zip(by_count[1], by_count[2], strict=False)
        efficiency = [x2 / (2.0 * x1) for x1, x2 in pairs if x1 > 0]
        if efficiency:
            result.metrics["scaling_efficiency_2"] = Metric.from_samples(efficiency, unit="fraction", better="higher")
    return by_count


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    counts = [int(n) for n in params["workers"]]
    if not counts or min(counts) < 1:
        raise ScenarioError(f"horizontal_scaling workers must be a list of counts >= 1, got {params['workers']}")
    stack = ctx.require_stack()
    endpoints = endpoint_mix(seeded_properties(stack), variants=params["variants"], seed=params["seed"])
    points: list[dict[str, Any]] = []
    result.details["points"] = points
    by_count: dict[int, list[float]] = {}
    invalid: list[str] = []
    for rep in range(params["repetitions"]):
        for n in counts:
            ctx.log(f"{n} service process(es): {params['users']} users for {params['duration_s']:g} s")
            if points or n != stack.config.workers:  # the service was started with config.workers for this run
                stack.start_service(ctx.profile, workers=n)
                ctx.target_url = stack.service_url
            load = run_load(
                ctx.target_url,
                ClosedPlan(users=params["users"], duration_s=params["duration_s"]),
                endpoints=endpoints,
                warmup_s=params["warmup_s"],
                drain_s=2.0,
                work_dir=ctx.artifacts_dir / f"horizontal-{ctx.profile}-w{n}-rep{rep + 1}",
            )
            points.append(
                closed_phase_point(
                    load,
                    workers=n,
                    repetition=rep + 1,
                    processes=len(stack.service_processes()),
                    generator_cpu_percent=load.validity.get("generator_cpu_percent_mean"),
                )
            )
            fault = generator_fault(load)
            if fault:
                invalid.append(f"{n} workers, repetition {rep + 1}: {fault}")
            by_count = publish(result, points)
    if len(by_count) >= 4:
        try:
            fit = fit_usl([p["workers"] for p in points], [p["throughput_rps"] for p in points])
            result.details["usl"] = fit.to_dict()
        except UslError as exc:
            result.details["usl"] = {"error": str(exc)}
    else:
        result.details["usl"] = {"error": f"{len(by_count)} worker counts measured; the USL fit needs at least 4"}
    p95: dict[int, list[float]] = {}
    for point in points:
        if point["p95_ms"] is not None:
            p95.setdefault(point["workers"], []).append(point["p95_ms"])
    note = (
        "the load generator, PostgreSQL and Redis run on the same cores as the service processes; "
        "scaling beyond the free cores measures contention for this machine, not the service's limit"
    )
    result.details["p95_ms"] = {str(n): values for n, values in p95.items()}
    finish_closed_phases(result, invalid, note)


SCENARIO = Scenario(
    name="horizontal_scaling",
    description="throughput and p95 with 1, 2, ... service processes (uvicorn workers)",
    run=run,
    defaults={
        "workers": [1, 2, 3, 4],
        "users": 32,
        "duration_s": 10.0,
        "warmup_s": 2.0,
        "repetitions": 3,
        "variants": 5,
        "seed": 0,
    },
    area="scalability",
)
