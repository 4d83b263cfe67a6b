"""PgBouncer in front of the embedded PostgreSQL (transaction pooling) and the connection_pooling scenario.

Skipped when the `pgbouncer` program is not installed (Debian package `pgbouncer`)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.pgbouncer import PgBouncer
from harness.postgres import EmbeddedPostgres, PostgresError
from harness.processes import ProcessGroup
from scenarios.connection_pooling import SCENARIO
from tests.scenario_support import run_scenario, small_stack

pytestmark = pytest.mark.skipif(
    shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists(), reason="pgbouncer not installed"
)


@pytest.fixture
def bouncer(embedded_postgres: EmbeddedPostgres, tmp_path: Path) -> Iterator[PgBouncer]:
    group = ProcessGroup(tmp_path / "logs")
    running = PgBouncer(embedded_postgres.dsn, tmp_path / "pgbouncer", group, pool_size=2)
    try:
        running.start()
        yield running
    finally:
        group.stop_all()


@pytest.mark.parametrize(("mode", "size", "message"), [("statement", 2, "pool mode"), ("transaction", 0, "pool size")])
def test_bad_pgbouncer_settings_are_named(tmp_path: Path, mode: str, size: int, message: str) -> None:
    with pytest.raises(PostgresError, match=message):
        PgBouncer(
            "postgresql://x@127.0.0.1:1/x", tmp_path, ProcessGroup(tmp_path), pool_size=size, pool_mode=mode
        ).start()


async def test_many_clients_share_few_server_connections(bouncer: PgBouncer) -> None:
    pool = await asyncpg.create_pool(bouncer.dsn_for("postgres"), min_size=20, max_size=20, statement_cache_size=0)
    try:  # 50 ms each, 20 at a time through PgBouncer
        results = await asyncio.gather(*(pool.fetchval("SELECT $1::int FROM pg_sleep(0.05)", i) for i in range(40)))
    finally:
        await pool.close()
    assert results == list(range(40))
    assert 1 <= bouncer.server_connections("postgres") <= 2  # 20 client connections, 2 server connections


def test_pooling_scenario_measures_both_modes(tmp_path: Path) -> None:
    short = {"users": 8, "duration_s": 1.5, "warmup_s": 0.5, "repetitions": 1, "pool_size": 4}
    with small_stack(tmp_path / "stack", upstream=False) as stack:
        result = run_scenario(SCENARIO, stack, "optimized", tmp_path / "out", **short)

        # on a busy machine the generator may saturate: the scenario then says so (figures still recorded)
        assert result.status == "complete" or "load generator" in (result.reason or ""), result.reason
        points = {p["mode"]: p for p in result.details["points"]}
        assert points["asyncpg"]["throughput_rps"] > 0 and points["pgbouncer"]["throughput_rps"] > 0
        assert points["asyncpg"]["error_rate"] == 0 and points["pgbouncer"]["error_rate"] == 0
        assert points["pgbouncer"]["server_connections"] <= 4  # PgBouncer's pool, whatever the 2 x 40 clients
        assert "pgbouncer_throughput_ratio" in result.metrics
        assert not [c for c in stack.group.children if c.name == "pgbouncer" and c.alive()]
