"""horizontal_scaling: throughput and p95 of the mix with 1, 2, ... service processes (uvicorn workers).

For each repetition, for each worker count in `workers` (in order, so counts alternate across
repetitions: 1 2 1 2 ...), the service is restarted with that many uvicorn worker processes sharing
PostgreSQL and Redis, and a closed-model load phase of `users` users sends the standard mix
(`harness.workload`: Zipf over every seeded row, with writes; `details["mix"]`) for `duration_s` (after
`warmup_s`). Each point in `details["points"]` has its window's X-Cache `hit_ratio`. Throughput counts
answered requests without errors. A phase whose load
generator was saturated makes the run invalid (the harness's one validity policy).

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

from harness.load import ClosedPlan
from scenarios.base import (
    MIX_DEFAULTS,
    MetricSpec,
    Scenario,
    ScenarioContext,
    ScenarioError,
    ScenarioResult,
    UslError,
    describe_mix,
    endpoint_mix,
    fit_usl,
    mix_options,
    phase_seed,
)

MACHINE_NOTE = (
    "the load generator, PostgreSQL and Redis run on the same cores as the service processes; "
    "scaling beyond the free cores measures contention for this machine, not the service's limit"
)


def record(ctx: ScenarioContext, points: list[dict[str, Any]], point: dict[str, Any]) -> None:
    """Record one point's throughput, and X(2) / (2 X(1)) once its repetition has both counts."""
    if point["workers"] in (1, 2):
        ctx.record(f"throughput_{point['workers']}_rps", point["throughput_rps"])
        pair = {p["workers"]: p["throughput_rps"] for p in points if p["repetition"] == point["repetition"]}
        if set(pair) >= {1, 2} and pair[1] > 0:
            ctx.record("scaling_efficiency_2", pair[2] / (2.0 * pair[1]))


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    counts = [int(n) for n in params["workers"]]
    if not counts or min(counts) < 1:
        raise ScenarioError(f"horizontal_scaling workers must be a list of counts >= 1, got {params['workers']}")
    endpoints = endpoint_mix(
        ctx.data.properties, users=ctx.data.users, admin_headers=ctx.admin_headers(), **mix_options(params)
    )
    result.details["mix"] = describe_mix(endpoints)
    points: list[dict[str, Any]] = result.details.setdefault("points", [])
    for rep in range(params["repetitions"]):
        for n in counts:
            ctx.log(f"{n} service process(es): {params['users']} users for {params['duration_s']:g} s")
            ctx.restart_service(workers=n)
            phase = ctx.load_phase(
                ClosedPlan(users=params["users"], duration_s=params["duration_s"]),
                endpoints,
                label=f"{n} workers, repetition {rep + 1}",
                warmup_s=params["warmup_s"],
                drain_s=2.0,
                seed=phase_seed("horizontal_scaling", rep, n),
            )
            points.append(
                phase.point(
                    workers=n,
                    repetition=rep + 1,
                    processes=len(ctx.service_processes()),
                    hit_ratio=phase.load.overall.cache_hit_ratio,
                )
            )
            record(ctx, points, points[-1])
    measured = sorted({p["workers"] for p in points})
    if len(measured) >= 4:
        try:
            result.details["usl"] = fit_usl(
                [p["workers"] for p in points], [p["throughput_rps"] for p in points]
            ).to_dict()
        except UslError as exc:
            result.details["usl"] = {"error": str(exc)}
    else:
        result.details["usl"] = {"error": f"{len(measured)} worker counts measured; the USL fit needs at least 4"}
    p95: dict[str, list[float]] = {}
    for point in points:
        if point["p95_ms"] is not None:
            p95.setdefault(str(point["workers"]), []).append(point["p95_ms"])
    result.details["p95_ms"] = p95
    ctx.describe_machine(MACHINE_NOTE)


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
        **MIX_DEFAULTS,
    },
    area="scalability",
    metrics=(
        MetricSpec(
            "throughput_1_rps",
            "req/s",
            "higher",
            "scalability",
            "successful requests per second with one service process (closed model)",
        ),
        MetricSpec(
            "throughput_2_rps",
            "req/s",
            "higher",
            "scalability",
            "successful requests per second with two service processes (closed model)",
        ),
        MetricSpec(
            "scaling_efficiency_2",
            "fraction",
            "higher",
            "scalability",
            "throughput with two processes divided by twice that with one, per repetition",
        ),
    ),
)
