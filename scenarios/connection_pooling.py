"""connection_pooling: PgBouncer (transaction mode) in front of PostgreSQL against asyncpg's own pool.

For each repetition (order alternating), the service runs with `workers` uvicorn processes and the read
mix of `read_replica` (empty cache, `distinct` ids: first reads reach the database, repeats hit the cache):

- `asyncpg`: each worker's asyncpg pool (`pool_size` connections) connects to PostgreSQL directly;
- `pgbouncer`: each worker's pool holds `client_pool_size` connections to PgBouncer, which multiplexes
  them onto `pool_size` server connections (transaction pooling; asyncpg's statement cache off, as
  PgBouncer 1.18 does not track prepared statements in that mode).

Metrics: `rps_asyncpg`, `rps_pgbouncer`, `pgbouncer_throughput_ratio` (per repetition), `p95_asyncpg_ms`,
`p95_pgbouncer_ms`, and the PostgreSQL client connections open at the end of each phase
(`server_connections_asyncpg`, `server_connections_pgbouncer`; informational).

Needs the `pgbouncer` program (Debian package `pgbouncer`). Honesty note in `details["machine"]`: PgBouncer
adds a hop and a process on the same cores; its gain is fewer server connections, which matters when
many processes (or hosts) would otherwise exceed `max_connections`, not raw speed on one host.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from harness.load.plan import ClosedPlan
from harness.load.runner import run_load
from harness.pgbouncer import PgBouncer
from harness.phase import generator_fault
from harness.results import Metric, ScenarioResult
from harness.stack import DATABASE, Stack
from harness.workload import seeded_properties
from scenarios._support import closed_phase_point, counterbalanced, finish_closed_phases
from scenarios.base import Scenario, ScenarioContext, ScenarioError
from scenarios.read_replica import flush_cache, read_mix

MODES = ("asyncpg", "pgbouncer")


def client_connections(dsn: str) -> int:
    """Client backends connected to the run's database (excluding this probe)."""

    async def count() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' "
                    "AND pid <> pg_backend_pid()",
                    DATABASE,
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count())


def publish(result: ScenarioResult, points: list[dict[str, Any]]) -> None:
    """Metrics from the points so far (after each one, so an interrupted run keeps them)."""
    for mode in MODES:
        mine = [p for p in points if p["mode"] == mode]
        if not mine:
            continue
        result.metrics[f"rps_{mode}"] = Metric.from_samples(
            [p["throughput_rps"] for p in mine], unit="req/s", better="higher"
        )
        p95 = [p["p95_ms"] for p in mine if p["p95_ms"] is not None]
        if p95:
            result.metrics[f"p95_{mode}_ms"] = Metric.from_samples(p95, unit="ms", better="lower")
        result.metrics[f"server_connections_{mode}"] = Metric.from_samples(
            [float(p["server_connections"]) for p in mine], unit="connections", better="none"
        )
    ratios = []
    for rep in {p["repetition"] for p in points}:
        pair = {p["mode"]: p["throughput_rps"] for p in points if p["repetition"] == rep}
        if len(pair) == 2 and pair["asyncpg"] > 0:
            ratios.append(pair["pgbouncer"] / pair["asyncpg"])
    if ratios:
        result.metrics["pgbouncer_throughput_ratio"] = Metric.from_samples(ratios, unit="ratio", better="higher")


def service_env(mode: str, params: dict[str, Any], bouncer: PgBouncer) -> dict[str, str]:
    if mode == "asyncpg":
        return {"ATHBENCH_DB_POOL_SIZE": str(params["pool_size"])}
    return {
        "ATHBENCH_POSTGRES_DSN": bouncer.dsn_for(DATABASE),
        "ATHBENCH_DB_POOL_SIZE": str(params["client_pool_size"]),
        "ATHBENCH_DB_STATEMENT_CACHE_SIZE": "0",
    }


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    stack: Stack = ctx.require_stack()
    endpoints = read_mix(seeded_properties(stack), params["distinct"], params["seed"])
    work_dir = Path(tempfile.mkdtemp(prefix=f"pgbouncer-{ctx.profile}-", dir=stack.run_dir))
    bouncer = PgBouncer(stack.postgres_dsn, work_dir, stack.group, pool_size=params["pool_size"])
    try:
        bouncer.start()
    except RuntimeError as exc:
        raise ScenarioError(f"connection_pooling cannot start PgBouncer: {exc}") from exc
    points: list[dict[str, Any]] = []
    result.details["points"] = points
    invalid: list[str] = []
    try:
        for rep, mode in counterbalanced(MODES, params["repetitions"]):
            ctx.log(f"{mode}: {params['workers']} workers, {params['users']} users for {params['duration_s']:g} s")
            stack.start_service(ctx.profile, service_env(mode, params, bouncer), workers=params["workers"])
            ctx.target_url = stack.service_url
            flush_cache(stack)
            load = run_load(
                ctx.target_url,
                ClosedPlan(users=params["users"], duration_s=params["duration_s"]),
                endpoints=endpoints,
                warmup_s=params["warmup_s"],
                drain_s=2.0,
                work_dir=ctx.artifacts_dir / f"pooling-{ctx.profile}-{mode}-rep{rep + 1}",
            )
            points.append(
                closed_phase_point(
                    load, mode=mode, repetition=rep + 1, server_connections=client_connections(stack.postgres_dsn)
                )
            )
            fault = generator_fault(load)
            if fault:
                invalid.append(f"{mode}, repetition {rep + 1}: {fault}")
            publish(result, points)
    finally:
        stack.start_service(ctx.profile, workers=stack.config.workers)  # direct again, before PgBouncer goes
        ctx.target_url = stack.service_url
        bouncer.stop()
    note = (
        "PgBouncer, PostgreSQL, the service and the load generator share this machine's cores; "
        "PgBouncer's gain is fewer server connections, not speed on one host"
    )
    finish_closed_phases(result, invalid, note)


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
        "distinct": 5000,
        "seed": 0,
    },
    area="scalability",
)
