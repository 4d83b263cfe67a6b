"""connection_pooling: PgBouncer (transaction mode) in front of PostgreSQL against asyncpg's own pool.

For each repetition (order alternating), the service runs with `workers` uvicorn processes, starts with an
empty cache and gets the standard mix (`harness.workload`: Zipf over every seeded row, reads and writes;
first reads reach the database, repeats hit the cache; each point has its window's X-Cache `hit_ratio`):

- `asyncpg`: each worker's asyncpg pool (`pool_size` connections) connects to PostgreSQL directly;
- `pgbouncer`: each worker's pool holds `client_pool_size` connections to PgBouncer, which multiplexes
  them onto `pool_size` server connections (transaction pooling; asyncpg's statement cache off, as
  PgBouncer 1.18 does not track prepared statements in that mode).

Metrics: `rps_asyncpg`, `rps_pgbouncer`, `pgbouncer_throughput_ratio` (per repetition), `p95_asyncpg_ms`,
`p95_pgbouncer_ms`, and the PostgreSQL client connections open at the end of each phase
(`server_connections_asyncpg`, `server_connections_pgbouncer`; informational).

Needs the `pgbouncer` program (Debian package `pgbouncer`). Honesty note in `details["machine"]`: PgBouncer
adds a hop and a process on the same cores; its gain is fewer server connections, which matters when
many processes (or hosts) would otherwise exceed `max_connections`, not raw speed on one host. A phase
whose load generator was saturated makes the run invalid (the harness's one validity policy).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from harness.load import ClosedPlan
from scenarios.base import (
    MIX_DEFAULTS,
    Attached,
    MetricSpec,
    Scenario,
    ScenarioContext,
    ScenarioResult,
    counterbalanced,
    describe_mix,
    endpoint_mix,
    mix_options,
    phase_seed,
)

MODES = ("asyncpg", "pgbouncer")
MACHINE_NOTE = (
    "PgBouncer, PostgreSQL, the service and the load generator share this machine's cores; "
    "PgBouncer's gain is fewer server connections, not speed on one host"
)


def client_connections(dsn: str) -> int:
    """Client backends connected to the run's database (excluding this probe)."""

    async def count() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count())


def record(ctx: ScenarioContext, points: list[dict[str, Any]], point: dict[str, Any]) -> None:
    """Record one phase, and the PgBouncer / asyncpg throughput ratio once its repetition has both modes."""
    mode = point["mode"]
    ctx.record(f"rps_{mode}", point["throughput_rps"])
    ctx.record(f"p95_{mode}_ms", point["p95_ms"])
    ctx.record(f"server_connections_{mode}", point["server_connections"])
    pair = {p["mode"]: p["throughput_rps"] for p in points if p["repetition"] == point["repetition"]}
    if len(pair) == 2 and pair["asyncpg"] > 0:
        ctx.record("pgbouncer_throughput_ratio", pair["pgbouncer"] / pair["asyncpg"])


def service_env(mode: str, params: dict[str, Any], bouncer: Attached) -> dict[str, str]:
    if mode == "asyncpg":
        return {"ATHBENCH_DB_POOL_SIZE": str(params["pool_size"])}
    return {
        "ATHBENCH_POSTGRES_DSN": bouncer.dsn,
        "ATHBENCH_DB_POOL_SIZE": str(params["client_pool_size"]),
        "ATHBENCH_DB_STATEMENT_CACHE_SIZE": "0",
    }


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    endpoints = endpoint_mix(
        ctx.data.properties, users=ctx.data.users, admin_headers=ctx.admin_headers(), **mix_options(params)
    )
    result.details["mix"] = describe_mix(endpoints)
    points: list[dict[str, Any]] = result.details.setdefault("points", [])
    with ctx.pgbouncer(params["pool_size"]) as bouncer:
        try:
            for rep, mode in counterbalanced(MODES, params["repetitions"]):
                ctx.log(f"{mode}: {params['workers']} workers, {params['users']} users for {params['duration_s']:g} s")
                ctx.restart_service(service_env(mode, params, bouncer), workers=params["workers"])
                ctx.flush_service_cache()
                phase = ctx.load_phase(
                    ClosedPlan(users=params["users"], duration_s=params["duration_s"]),
                    endpoints,
                    label=f"{mode}, repetition {rep + 1}",
                    warmup_s=params["warmup_s"],
                    drain_s=2.0,
                    seed=phase_seed("connection_pooling", rep),  # both modes send the same requests
                )
                points.append(
                    phase.point(
                        mode=mode,
                        repetition=rep + 1,
                        server_connections=client_connections(ctx.postgres_dsn),
                        hit_ratio=phase.load.overall.cache_hit_ratio,
                    )
                )
                record(ctx, points, points[-1])
        finally:
            ctx.restart_service()  # direct again, before PgBouncer goes
    ctx.describe_machine(MACHINE_NOTE)


SCENARIO = Scenario(
    name="connection_pooling",
    description="PgBouncer (transaction pooling) against asyncpg's own pool, with several service processes",
    run=run,
    defaults={
        "workers": 2,
        "pool_size": 10,
        "client_pool_size": 40,
        "users": 32,
        "duration_s": 10.0,
        "warmup_s": 2.0,
        "repetitions": 3,
        **MIX_DEFAULTS,
    },
    area="scalability",
    metrics=(
        MetricSpec(
            "rps_asyncpg",
            "req/s",
            "higher",
            "scalability",
            "successful requests per second, asyncpg pools straight to PostgreSQL",
        ),
        MetricSpec(
            "rps_pgbouncer",
            "req/s",
            "higher",
            "scalability",
            "successful requests per second through PgBouncer (transaction pooling)",
        ),
        MetricSpec(
            "p95_asyncpg_ms",
            "ms",
            "lower",
            "scalability",
            "95th percentile latency, asyncpg pools straight to PostgreSQL (uncorrected)",
        ),
        MetricSpec(
            "p95_pgbouncer_ms", "ms", "lower", "scalability", "95th percentile latency through PgBouncer (uncorrected)"
        ),
        MetricSpec(
            "server_connections_asyncpg",
            "connections",
            "none",
            "scalability",
            "PostgreSQL client connections open at the end of an asyncpg phase",
        ),
        MetricSpec(
            "server_connections_pgbouncer",
            "connections",
            "none",
            "scalability",
            "PostgreSQL client connections open at the end of a PgBouncer phase",
        ),
        MetricSpec(
            "pgbouncer_throughput_ratio",
            "ratio",
            "higher",
            "scalability",
            "PgBouncer throughput divided by asyncpg's, per repetition",
        ),
    ),
)
