"""db_query: the service's own SQL timed under load, slow-query plans, index usage, pool saturation.

The embedded PostgreSQL (pgserver) has no `pg_stat_statements`, and the service exports no per-query
timings, so the service's named queries (its SQL text, imported from `system_under_test.api`) are
timed here with asyncpg against the service's database *while* an open-model load of the service's
standard mix runs (`harness.workload`: Zipf over every seeded row, with writes; in a background
thread; `details.load.hit_ratio` and `details.traffic` say how much of it the caches answered). A timing
counts only when the service was under load at that moment: /metrics is polled every `poll_s`, and a timing is kept when
the service's request rate since the previous poll was at least half the target rate.

- Each of `timers` connections runs every named query once per round, then waits `round_interval_s`,
  so the timing adds little load of its own.
- Named queries: the portfolio overview's four (the "dashboard"), the energy assessment's property
  lookup, the market comparison's four; `extra_queries` (name -> SQL without parameters) adds more.
- A query whose p95 exceeds `slow_threshold_ms` is slow: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` of
  its slowest execution's arguments goes to the artifact `explain` and `details.slow`.
- Unused indexes: `pg_stat_user_indexes.idx_scan = 0` since the statistics were last reset, leaving
  out primary-key and unique indexes (they enforce constraints); seq scans on tables of at least
  `big_table_rows` rows during the load go to `details.seq_scans`.
- Pool saturation: `athbench_db_pool_in_use / athbench_db_pool_max` from /metrics, p95 over the polls
  under load (`details.pool` has the max and the samples' count). For the capacity plan
  (`reports.capacity_plan`), `details.pool` also has the mean connections in use, the pool size, the
  service's mean request rate over the same polls and, by Little's law (connections held = request rate
  x hold time per request), `db_seconds_per_request`: the connection time one request of the mix holds.
- With an external PostgreSQL that has `pg_stat_statements`, its top statements by mean time are
  added to `details.pg_stat_statements`.
- Validity is the harness's one policy for load phases: a load generator that fell behind makes the run
  invalid; a service that did not keep up is reported in `details["overloaded"]` (the query timings are
  measured directly, so they stay exact). `details.load` summarizes the phase.

Metrics: `dashboard_query_p95_ms` (the highest p95 among the dashboard's queries), `query_mean_ms`
(mean of every timed execution), `slow_queries`, `unused_indexes`, `pool_saturation`.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import numpy as np

from harness.load import OpenPlan
from scenarios.base import (
    MIX_DEFAULTS,
    BackgroundPhase,
    MetricSpec,
    Phase,
    Scenario,
    ScenarioContext,
    ScenarioError,
    ScenarioResult,
    describe_mix,
    endpoint_mix,
    mix_options,
    parse_metrics,
    phase_seed,
)
from system_under_test.api import market, portfolios, properties

REQUEST_COUNT = "athbench_http_request_duration_seconds_count"
DASHBOARD = ("portfolio_user", "portfolio_count", "portfolio_totals", "portfolio_classes")
PROPERTY_SQL = (
    f"SELECT {properties.PROPERTY_COLUMNS} FROM properties p JOIN neighbourhoods n ON n.id = p.neighbourhood_id "
    "WHERE p.id = $1"
)  # the text of properties.load_property

DEFAULTS: dict[str, Any] = {
    "rate_rps": 100.0,
    "duration_s": 8.0,
    "warmup_s": 1.0,
    "timers": 2,
    "round_interval_s": 0.05,
    "slow_threshold_ms": 100.0,
    "big_table_rows": 10_000,
    "poll_s": 0.25,
    **MIX_DEFAULTS,
    "extra_queries": {},
    "seed": 3,
}


@dataclass
class Samples:
    """Everything the measuring loop collected."""

    timings: dict[str, list[tuple[float, tuple[Any, ...]]]] = field(default_factory=dict)
    pool: list[float] = field(default_factory=list)
    in_use: list[float] = field(default_factory=list)  # connections in use, per poll under load
    pool_size: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # the service's request rate since the previous poll
    polls: int = 0
    discarded: int = 0


@dataclass(frozen=True)
class Arguments:
    """Seeded pools of real arguments for the named queries."""

    users: list[int]
    properties: list[int]
    hoods: list[tuple[int, str]]

    @classmethod
    def from_data(cls, ctx: ScenarioContext, seed: int) -> Arguments:
        rng = random.Random(seed)
        users, props = range(1, ctx.data.users + 1), range(1, ctx.data.properties + 1)  # the seed's ids: 1..N
        return cls(
            rng.sample(users, min(500, len(users))), rng.sample(props, min(500, len(props))), ctx.data.neighbourhoods
        )


def named_queries(extra: dict[str, str]) -> dict[str, tuple[str, Callable[[random.Random, Arguments], tuple]]]:
    """name -> (SQL, argument maker) of every query this scenario times."""

    def user(r: random.Random, a: Arguments) -> tuple:
        return (r.choice(a.users),)

    def prop(r: random.Random, a: Arguments) -> tuple:
        return (r.choice(a.properties),)

    def hood_id(r: random.Random, a: Arguments) -> tuple:
        return (r.choice(a.hoods)[0],)

    queries: dict[str, tuple[str, Callable[[random.Random, Arguments], tuple]]] = {
        "portfolio_user": (portfolios.USER_SQL, user),
        "portfolio_count": (portfolios.PORTFOLIO_COUNT_SQL, user),
        "portfolio_totals": (portfolios.TOTALS_SQL, user),
        "portfolio_classes": (portfolios.CLASSES_SQL, user),
        "property_assessment": (PROPERTY_SQL, prop),
        "market_neighbourhood": (market.NEIGHBOURHOOD_SQL, lambda r, a: (r.choice(a.hoods)[1],)),
        "market_prices": (market.PRICES_SQL, hood_id),
        "market_classes": (market.CLASSES_SQL, hood_id),
        "market_percentile": (market.PERCENTILE_SQL, lambda r, a: (r.choice(a.hoods)[0], r.uniform(1000, 6000))),
    }
    for name, sql in extra.items():
        if not isinstance(sql, str) or not sql.strip():
            raise ScenarioError(f"extra_queries.{name}: expected an SQL string without parameters, got {sql!r}")
        queries[name] = (sql, lambda r, a: ())
    return queries


async def _measure(
    dsn: str, base_url: str, params: dict[str, Any], load: BackgroundPhase, args: Arguments, queries: dict
) -> Samples:
    """Time the named queries while `load` (a background phase: `.is_alive()`) keeps the service busy."""
    samples = Samples(timings={name: [] for name in queries})
    loaded = asyncio.Event()
    min_rate = params["rate_rps"] / 2

    async def poll() -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            last: tuple[float, float] | None = None
            while load.is_alive():
                try:
                    response = await client.get(f"{base_url}/metrics")
                    scrape = parse_metrics(response.text)
                except httpx.HTTPError:
                    await asyncio.sleep(params["poll_s"])
                    continue
                now, count = time.monotonic(), scrape.total(REQUEST_COUNT)
                rate = None if last is None else (count - last[1]) / (now - last[0])
                if rate is not None and rate >= min_rate:
                    loaded.set()
                    samples.polls += 1
                    size = scrape.total("athbench_db_pool_max")
                    if size:
                        in_use = scrape.total("athbench_db_pool_in_use")
                        samples.pool.append(in_use / size)
                        samples.in_use.append(in_use)
                        samples.pool_size.append(size)
                        samples.rates.append(rate)
                else:
                    loaded.clear()
                last = (now, count)
                await asyncio.sleep(params["poll_s"])

    async def timer(index: int) -> None:
        rng = random.Random(params["seed"] * 1000 + index)
        conn = await asyncpg.connect(dsn)
        try:
            for sql, _ in queries.values():  # prepare once, outside the measurement
                await conn.prepare(sql)
            while load.is_alive():
                if not loaded.is_set():  # the load process is starting or draining
                    await asyncio.sleep(params["poll_s"])
                    continue
                for name, (sql, make) in queries.items():
                    values = make(rng, args)
                    t0 = time.perf_counter()
                    await conn.fetch(sql, *values)
                    elapsed = (time.perf_counter() - t0) * 1000.0
                    if loaded.is_set():
                        samples.timings[name].append((elapsed, values))
                    else:
                        samples.discarded += 1
                await asyncio.sleep(params["round_interval_s"])  # the timers add little load of their own
        finally:
            await conn.close()

    await asyncio.gather(poll(), *(timer(i) for i in range(params["timers"])))
    return samples


async def _explain(dsn: str, sql: str, values: tuple) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *values)
        return json.loads(raw) if isinstance(raw, str) else raw
    finally:
        await conn.close()


INDEX_STATS_SQL = """
SELECT s.schemaname, s.relname AS table, s.indexrelname AS index, s.idx_scan,
       pg_relation_size(s.indexrelid) AS bytes
FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE NOT i.indisunique AND NOT i.indisprimary
ORDER BY s.relname, s.indexrelname
"""
TABLE_STATS_SQL = "SELECT relname, seq_scan, seq_tup_read, idx_scan, n_live_tup FROM pg_stat_user_tables"


async def _catalog(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        indexes = [dict(r) for r in await conn.fetch(INDEX_STATS_SQL)]
        tables = {r["relname"]: dict(r) for r in await conn.fetch(TABLE_STATS_SQL)}
        reset = await conn.fetchval("SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()")
        has_pgss = await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        statements = []
        if has_pgss:
            rows = await conn.fetch(
                "SELECT query, calls, mean_exec_time, max_exec_time FROM pg_stat_statements "
                "ORDER BY mean_exec_time DESC LIMIT 15"
            )
            statements = [dict(r) for r in rows]
        return {"indexes": indexes, "tables": tables, "stats_reset": str(reset), "pg_stat_statements": statements}
    finally:
        await conn.close()


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    dsn = ctx.postgres_dsn
    queries = named_queries(dict(params["extra_queries"]))
    args = Arguments.from_data(ctx, params["seed"])
    before = asyncio.run(_catalog(dsn))
    plan = OpenPlan.constant(params["rate_rps"], params["duration_s"], users=32)
    endpoints = endpoint_mix(
        ctx.data.properties, users=ctx.data.users, admin_headers=ctx.admin_headers(), **mix_options(params)
    )
    result.details["mix"] = describe_mix(endpoints)
    load = ctx.background_phase(
        plan, endpoints, label="load", warmup_s=params["warmup_s"], drain_s=1.0, seed=phase_seed("db_query")
    )
    samples = asyncio.run(_measure(dsn, ctx.target_url, params, load, args, queries))
    phase = ctx.finish_phase(load)  # the harness's validity policy: a generator fault invalidates the run
    time.sleep(1.0)  # let backends flush their statistics (at most once a second when idle)
    after = asyncio.run(_catalog(dsn))
    _summarize(ctx, params, result, samples, queries, phase, before, after)


def _summarize(
    ctx: ScenarioContext,
    params: dict[str, Any],
    result: ScenarioResult,
    samples: Samples,
    queries: dict,
    phase: Phase,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    per_query: dict[str, dict[str, Any]] = {}
    for name, timings in samples.timings.items():
        if timings:
            ms = [t for t, _ in timings]
            per_query[name] = {
                "n": len(ms),
                "mean_ms": statistics.fmean(ms),
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
                "max_ms": max(ms),
            }
    if not per_query:
        raise ScenarioError(
            f"no query was timed under load (the service never reached half of {params['rate_rps']:g} req/s "
            f"in {samples.polls} polls; {samples.discarded} timings discarded)"
        )
    dashboard = [per_query[n]["p95_ms"] for n in DASHBOARD if n in per_query]
    if dashboard:
        ctx.record("dashboard_query_p95_ms", max(dashboard))
    every = [t for timings in samples.timings.values() for t, _ in timings]
    ctx.record("query_mean_ms", statistics.fmean(every))

    slow: dict[str, Any] = {}
    for name, stats in per_query.items():
        if stats["p95_ms"] > params["slow_threshold_ms"]:
            _, values = max(samples.timings[name])
            plan = asyncio.run(_explain(ctx.postgres_dsn, queries[name][0], values))
            slow[name] = {**stats, "arguments": [str(v) for v in values], "plan": plan}
    ctx.record("slow_queries", len(slow))
    if slow:
        path = ctx.artifacts_dir / f"db_query-{ctx.profile}-explain.json"
        path.write_text(json.dumps(slow, indent=2, default=str))
        result.artifacts["explain"] = str(path.relative_to(ctx.out_dir))

    unused = [i for i in after["indexes"] if i["idx_scan"] == 0]
    ctx.record("unused_indexes", len(unused))
    if samples.pool:
        ctx.record("pool_saturation", float(np.percentile(samples.pool, 95)))
    result.details.update(
        {
            "queries": per_query,
            "dashboard_queries": list(DASHBOARD),
            "slow_threshold_ms": params["slow_threshold_ms"],
            "slow": {n: {k: v for k, v in s.items() if k != "plan"} for n, s in slow.items()},
            "unused_indexes": unused,
            "seq_scans": _seq_scans(before["tables"], after["tables"], params["big_table_rows"]),
            "stats_reset": after["stats_reset"],
            "pool": {
                "p95": float(np.percentile(samples.pool, 95)) if samples.pool else None,
                "max": max(samples.pool) if samples.pool else None,
                "polls_under_load": len(samples.pool),
                **little(samples),
            },
            "timings_discarded_not_under_load": samples.discarded,
            "pg_stat_statements": after["pg_stat_statements"] or "not installed on this server",
            "load": phase.point(rate_rps=params["rate_rps"], hit_ratio=phase.load.overall.cache_hit_ratio),
            "traffic": phase.load.traffic(),
        }
    )


def little(samples: Samples) -> dict[str, Any]:
    """Mean connections in use and request rate over the polls under load, and by Little's law the
    connection time held per request (None without polls)."""
    if not samples.in_use or not samples.rates:
        return {"mean_in_use": None, "size": None, "request_rps": None, "db_seconds_per_request": None}
    in_use, rate = statistics.fmean(samples.in_use), statistics.fmean(samples.rates)
    return {
        "mean_in_use": in_use,
        "size": max(samples.pool_size),
        "request_rps": rate,
        "db_seconds_per_request": in_use / rate if rate > 0 else None,
    }


def _seq_scans(before: dict[str, Any], after: dict[str, Any], big_rows: int) -> list[dict[str, Any]]:
    """Tables of at least `big_rows` rows that were scanned sequentially during the load."""
    out = []
    for name, row in after.items():
        old = before.get(name, {})
        scans = (row["seq_scan"] or 0) - (old.get("seq_scan") or 0)
        if row["n_live_tup"] >= big_rows and scans > 0:
            tuples = (row["seq_tup_read"] or 0) - (old.get("seq_tup_read") or 0)
            out.append({"table": name, "rows": row["n_live_tup"], "seq_scans": scans, "rows_read": tuples})
    return sorted(out, key=lambda r: -r["rows_read"])


SCENARIO = Scenario(
    name="db_query",
    description="Service SQL timed under load, EXPLAIN of slow queries, unused indexes, pool saturation",
    run=run,
    defaults=DEFAULTS,
    area="database",
    metrics=(
        MetricSpec(
            "dashboard_query_p95_ms",
            "ms",
            "lower",
            "database",
            "highest p95 among the dashboard's four queries, timed under load",
        ),
        MetricSpec(
            "query_mean_ms",
            "ms",
            "lower",
            "database",
            "mean time of every timed execution of the service's named queries under load",
        ),
        MetricSpec(
            "slow_queries", "queries", "lower", "database", "named queries whose p95 exceeds the slow threshold"
        ),
        MetricSpec(
            "unused_indexes",
            "indexes",
            "lower",
            "database",
            "non-unique indexes never scanned since the statistics were reset",
        ),
        MetricSpec(
            "pool_saturation",
            "fraction",
            "lower",
            "database",
            "p95 share of the service's database pool in use under load",
        ),
    ),
)
