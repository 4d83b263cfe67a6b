"""read_replica: read throughput of the service without and with a streaming read replica.

A hot standby of the embedded PostgreSQL is created once (`harness.replica`: `pg_basebackup -R -X stream`,
a second server on another port), after a `VACUUM (ANALYZE)` so both servers read settled pages (hint
bits, visibility map) rather than the replica paying for the fresh seed. Then, for each repetition, the
service is run twice, alternating the order across repetitions: reading from the primary only, and with
`ATHBENCH_POSTGRES_REPLICA_DSN` set (read-only endpoint queries go to the replica, writes stay on the
primary). Each phase starts with an empty cache (`POST /admin/cache/flush`) and a closed-model load of
`users` users over a read-only mix (`harness.workload`, `READ_SHARES`) with Zipf popularity (`zipf_s`)
over every seeded property and user: the first read of each id reaches the database, repeats are cache
hits; each point in `details["points"]` has its window's X-Cache `hit_ratio`.

Metrics: `read_rps_primary`, `read_rps_replica`, `read_throughput_ratio` (replica / primary, per
repetition), `read_p95_primary_ms`, `read_p95_replica_ms` and `replica_lag_s` (the service's own
`/health` lag check at the end of each replica phase; informational).

Honesty note, in `details["machine"]`: on one machine the replica shares the cores of the primary, the
service and the load generator, so it adds no CPU; a gain here can only come from less contention inside
one PostgreSQL (locks, buffer pins), and a loss is the cost of a second server. Needs the embedded
PostgreSQL (not an external DSN). The service is left without the replica; the replica is stopped.
A phase whose load generator was saturated makes the run invalid (the harness's one validity policy).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from harness.load import ClosedPlan, Endpoint
from scenarios.base import (
    MIX_DEFAULTS,
    READ_SHARES,
    MetricSpec,
    Scenario,
    ScenarioContext,
    ScenarioResult,
    counterbalanced,
    describe_mix,
    endpoint_mix,
    phase_seed,
)

MODES = ("primary", "replica")
MACHINE_NOTE = (
    "primary, replica, service and load generator share this machine's cores: the replica adds no "
    "CPU here, so this measures contention on one host, not the gain of a replica on its own host"
)


def read_mix(properties: int, users: int, zipf_s: float) -> list[Endpoint]:
    """Energy assessments (3 in 4) and portfolio overviews (1 in 4), Zipf over every property and user; no
    writes (they would go to the primary in both modes)."""
    return endpoint_mix(
        properties, users=users, zipf_s=zipf_s, write_share_patch=0.0, write_share_post=0.0, kinds=READ_SHARES
    )


def replica_lag_s(ctx: ScenarioContext) -> float | None:
    """The lag the service reports on /health (None when the check is missing or has no value)."""
    checks = httpx.get(f"{ctx.target_url}/health", timeout=30).json().get("checks", {})
    values = [c.get("observedValue") for c in checks.get("postgres-replica:lag", [])]
    return values[0] if values and values[0] is not None else None


def record(ctx: ScenarioContext, points: list[dict[str, Any]], point: dict[str, Any]) -> None:
    """Record one phase, and the replica / primary throughput ratio once its repetition has both modes."""
    ctx.record(f"read_rps_{point['mode']}", point["throughput_rps"])
    ctx.record(f"read_p95_{point['mode']}_ms", point["p95_ms"])
    ctx.record("replica_lag_s", point.get("replica_lag_s"))
    pair = {p["mode"]: p["throughput_rps"] for p in points if p["repetition"] == point["repetition"]}
    if len(pair) == 2 and pair["primary"] > 0:
        ctx.record("read_throughput_ratio", pair["replica"] / pair["primary"])


async def vacuum(dsn: str) -> None:
    """VACUUM (ANALYZE) the freshly seeded database, so primary and replica read the same kind of pages."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    endpoints = read_mix(ctx.data.properties, ctx.data.users, params["zipf_s"])
    result.details["mix"] = describe_mix(endpoints)
    asyncio.run(vacuum(ctx.postgres_dsn))  # the copy then carries hint bits and the visibility map
    points: list[dict[str, Any]] = result.details.setdefault("points", [])
    with ctx.read_replica() as replica:
        result.details["replica_catch_up_s"] = round(replica.ready_s, 3)
        try:
            for rep, mode in counterbalanced(MODES, params["repetitions"]):
                ctx.log(f"reads from the {mode}: {params['users']} users for {params['duration_s']:g} s")
                ctx.restart_service({"ATHBENCH_POSTGRES_REPLICA_DSN": replica.dsn} if mode == "replica" else None)
                ctx.flush_service_cache()
                phase = ctx.load_phase(
                    ClosedPlan(users=params["users"], duration_s=params["duration_s"]),
                    endpoints,
                    label=f"{mode}, repetition {rep + 1}",
                    warmup_s=params["warmup_s"],
                    drain_s=2.0,
                    seed=phase_seed("read_replica", rep),  # both modes send the same requests
                )
                lag = replica_lag_s(ctx) if mode == "replica" else None
                hits = phase.load.overall.cache_hit_ratio
                points.append(phase.point(mode=mode, repetition=rep + 1, replica_lag_s=lag, hit_ratio=hits))
                record(ctx, points, points[-1])
        finally:
            ctx.restart_service()  # without the replica, before it goes away
    ctx.describe_machine(MACHINE_NOTE)


SCENARIO = Scenario(
    name="read_replica",
    description="read throughput without and with a streaming read replica of PostgreSQL",
    run=run,
    defaults={"users": 32, "duration_s": 10.0, "warmup_s": 2.0, "repetitions": 3, "zipf_s": MIX_DEFAULTS["zipf_s"]},
    area="scalability",
    metrics=(
        MetricSpec(
            "read_rps_primary",
            "req/s",
            "higher",
            "scalability",
            "successful reads per second with every query on the primary",
        ),
        MetricSpec(
            "read_rps_replica",
            "req/s",
            "higher",
            "scalability",
            "successful reads per second with read-only queries on the replica",
        ),
        MetricSpec(
            "read_throughput_ratio",
            "ratio",
            "higher",
            "scalability",
            "replica-mode read throughput divided by primary-only, per repetition",
        ),
        MetricSpec(
            "read_p95_primary_ms",
            "ms",
            "lower",
            "scalability",
            "95th percentile read latency, primary only (closed model, uncorrected)",
        ),
        MetricSpec(
            "read_p95_replica_ms",
            "ms",
            "lower",
            "scalability",
            "95th percentile read latency with the replica (closed model, uncorrected)",
        ),
        MetricSpec(
            "replica_lag_s",
            "s",
            "none",
            "scalability",
            "replication lag the service reports at the end of a replica phase",
        ),
    ),
)
