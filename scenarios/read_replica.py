"""read_replica: read throughput of the service without and with a streaming read replica.

A hot standby of the embedded PostgreSQL is created once (`harness.replica`: `pg_basebackup -R -X stream`,
a second server on another port), after a `VACUUM (ANALYZE)` so both servers read settled pages (hint
bits, visibility map) rather than the replica paying for the fresh seed. Then, for each repetition, the
service is run twice, alternating the order across repetitions: reading from the primary only, and with
`ATHBENCH_POSTGRES_REPLICA_DSN` set (read-only endpoint queries go to the replica, writes stay on the
primary). Each phase starts with an empty cache (`POST /admin/cache/flush`) and a closed-model load of
`users` users over a read-only mix of `distinct` different properties and users: the first read of each
id reaches the database, repeats are cache hits (the share of each is the same in both modes).

Metrics: `read_rps_primary`, `read_rps_replica`, `read_throughput_ratio` (replica / primary, per
repetition), `read_p95_primary_ms`, `read_p95_replica_ms` and `replica_lag_s` (the service's own
`/health` lag check at the end of each replica phase; informational).

Honesty note, in `details["machine"]`: on one machine the replica shares the cores of the primary, the
service and the load generator, so it adds no CPU; a gain here can only come from less contention inside
one PostgreSQL (locks, buffer pins), and a loss is the cost of a second server. Needs the embedded
PostgreSQL (not an external DSN). The service is left without the replica; the replica is stopped.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan
from harness.load.runner import run_load
from harness.phase import generator_fault
from harness.replica import EmbeddedReplica
from harness.results import Metric, ScenarioResult
from harness.stack import DATABASE, Stack
from harness.workload import endpoint_mix, seeded_properties
from scenarios._support import closed_phase_point, counterbalanced, finish_closed_phases
from scenarios.base import Scenario, ScenarioContext, ScenarioError

MODES = ("primary", "replica")
READ_SHARES = {"energy_assessment": 0.75, "portfolio_overview": 0.25}


def read_mix(properties: int, distinct: int, seed: int) -> list[Endpoint]:
    """Energy assessments (3 in 4) and portfolio overviews (1 in 4), `distinct` random ids of each."""
    return endpoint_mix(properties, variants=distinct, seed=seed, kinds=READ_SHARES)


def flush_cache(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.service_url}/admin/cache/flush", headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30
    )
    if response.status_code != 200:
        raise ScenarioError(
            f"could not flush the service's cache before a phase: {response.status_code} {response.text}"
        )


def replica_lag_s(stack: Stack) -> float | None:
    """The lag the service reports on /health (None when the check is missing or has no value)."""
    checks = httpx.get(f"{stack.service_url}/health", timeout=30).json().get("checks", {})
    values = [c.get("observedValue") for c in checks.get("postgres-replica:lag", [])]
    return values[0] if values and values[0] is not None else None


def publish(result: ScenarioResult, points: list[dict[str, Any]]) -> None:
    """Metrics from the points so far (after each one, so an interrupted run keeps them)."""
    for mode in MODES:
        rps = [p["throughput_rps"] for p in points if p["mode"] == mode]
        p95 = [p["p95_ms"] for p in points if p["mode"] == mode and p["p95_ms"] is not None]
        if rps:
            result.metrics[f"read_rps_{mode}"] = Metric.from_samples(rps, unit="req/s", better="higher")
        if p95:
            result.metrics[f"read_p95_{mode}_ms"] = Metric.from_samples(p95, unit="ms", better="lower")
    ratios = []
    for rep in {p["repetition"] for p in points}:
        pair = {p["mode"]: p["throughput_rps"] for p in points if p["repetition"] == rep}
        if len(pair) == 2 and pair["primary"] > 0:
            ratios.append(pair["replica"] / pair["primary"])
    if ratios:
        result.metrics["read_throughput_ratio"] = Metric.from_samples(ratios, unit="ratio", better="higher")
    lags = [p["replica_lag_s"] for p in points if p.get("replica_lag_s") is not None]
    if lags:
        result.metrics["replica_lag_s"] = Metric.from_samples(lags, unit="s", better="none")


async def vacuum(dsn: str) -> None:
    """VACUUM (ANALYZE) the freshly seeded database, so primary and replica read the same kind of pages."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    stack = ctx.require_stack()
    if stack.embedded_postgres is None:
        raise ScenarioError("read_replica needs the embedded PostgreSQL (a replica of an external DSN is not made)")
    endpoints = read_mix(seeded_properties(stack), params["distinct"], params["seed"])
    data_dir = Path(tempfile.mkdtemp(prefix=f"replica-{ctx.profile}-", dir=stack.run_dir))
    replica = EmbeddedReplica(stack.embedded_postgres, data_dir, stack.group)
    asyncio.run(vacuum(stack.postgres_dsn))  # the copy then carries hint bits and the visibility map
    replica.start()
    replica_env = {"ATHBENCH_POSTGRES_REPLICA_DSN": replica.dsn_for(DATABASE)}
    result.details["replica_catch_up_s"] = round(replica.wait_caught_up(DATABASE), 3)
    points: list[dict[str, Any]] = []
    result.details["points"] = points
    invalid: list[str] = []
    try:
        for rep, mode in counterbalanced(MODES, params["repetitions"]):
            ctx.log(f"reads from the {mode}: {params['users']} users for {params['duration_s']:g} s")
            ctx.restart_service(replica_env if mode == "replica" else None)
            flush_cache(stack)
            load = run_load(
                ctx.target_url,
                ClosedPlan(users=params["users"], duration_s=params["duration_s"]),
                endpoints=endpoints,
                warmup_s=params["warmup_s"],
                drain_s=2.0,
                work_dir=ctx.artifacts_dir / f"read-replica-{ctx.profile}-{mode}-rep{rep + 1}",
            )
            lag = replica_lag_s(stack) if mode == "replica" else None
            points.append(closed_phase_point(load, mode=mode, repetition=rep + 1, replica_lag_s=lag))
            fault = generator_fault(load)
            if fault:
                invalid.append(f"{mode}, repetition {rep + 1}: {fault}")
            publish(result, points)
    finally:
        ctx.restart_service()  # without the replica, before it goes away
        replica.stop()
    note = (
        "primary, replica, service and load generator share this machine's cores: the replica adds no "
        "CPU here, so this measures contention on one host, not the gain of a replica on its own host"
    )
    finish_closed_phases(result, invalid, note)


SCENARIO = Scenario(
    name="read_replica",
    description="read throughput without and with a streaming read replica of PostgreSQL",
    run=run,
    defaults={"users": 32, "duration_s": 10.0, "warmup_s": 2.0, "repetitions": 3, "distinct": 5000, "seed": 0},
    area="scalability",
)
