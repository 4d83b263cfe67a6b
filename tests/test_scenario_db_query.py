"""db_query against the real stack: it finds an index nobody uses and a query forced above the threshold."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.stack import Stack
from scenarios.db_query import SCENARIO
from tests.scenario_support import run_scenario, small_stack

UNUSED = "properties_address_probe_idx"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("db-stack")) as running:
        yield running


def execute(dsn: str, sql: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def test_finds_unused_index_and_forced_slow_query(stack: Stack, tmp_path: Path) -> None:
    execute(stack.postgres_dsn, f"CREATE INDEX {UNUSED} ON properties (address)")
    try:
        result = run_scenario(
            SCENARIO,
            stack,
            "optimized",
            tmp_path,
            rate_rps=40.0,
            duration_s=3.0,
            warmup_s=0.5,
            extra_queries={"forced_slow": "SELECT pg_sleep(0.15)"},
        )
    finally:
        execute(stack.postgres_dsn, f"DROP INDEX {UNUSED}")
    assert result.status == "complete", result.reason
    assert result.details["load"]["valid"] and result.details["load"]["throughput_rps"] > 0
    assert result.details["load"]["hit_ratio"] is not None  # which path the load took is recorded
    assert set(result.details["mix"]["kinds"]) >= {"energy_assessment", "property_patch", "assessment_post"}
    unused = {i["index"] for i in result.details["unused_indexes"]}
    assert UNUSED in unused
    assert result.metrics["unused_indexes"].median == len(unused)
    # the forced query is slow; its plan was captured with ANALYZE timings
    assert "forced_slow" in result.details["slow"]
    assert result.details["slow"]["forced_slow"]["p95_ms"] >= 150
    assert result.metrics["slow_queries"].median >= 1
    plans = json.loads((tmp_path / result.artifacts["explain"]).read_text())
    plan = plans["forced_slow"]["plan"][0]
    assert plan["Plan"]["Node Type"] == "Result" and plan["Execution Time"] >= 150
    # the service's own queries were timed under load, with the dashboard's among them
    assert result.details["queries"]["portfolio_totals"]["n"] > 0
    assert result.metrics["dashboard_query_p95_ms"].median > 0
    assert 0 <= result.metrics["pool_saturation"].median <= 1
    pool = result.details["pool"]  # Little's law: connections held = request rate x hold time
    assert pool["db_seconds_per_request"] == pytest.approx(pool["mean_in_use"] / pool["request_rps"])
