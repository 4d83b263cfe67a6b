"""Seeding never destroys a database athbench did not create, and is all or nothing (real PostgreSQL)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from typer.testing import CliRunner

from harness.cli import app as cli_app
from system_under_test.data.seed import (
    MARKER_TABLE,
    SCHEMA_VERSION,
    ForeignDatabaseError,
    database_state,
    ensure_seeded,
    seed,
)


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetchval(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "foreign_sql",
    [
        "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1)",
        # someone else's table that happens to carry one of athbench's names, empty
        "CREATE TABLE properties (id int PRIMARY KEY, owner text)",
        "CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users VALUES (7)",
    ],
)
def test_seed_and_ensure_seeded_refuse_a_foreign_database(fresh_db_dsn: str, foreign_sql: str) -> None:
    asyncio.run(_execute(fresh_db_dsn, foreign_sql))
    database = fresh_db_dsn.rsplit("/", 1)[-1]
    for attempt in (lambda: seed(fresh_db_dsn, 500), lambda: ensure_seeded(fresh_db_dsn, 500)):
        with pytest.raises(ForeignDatabaseError, match=database):
            asyncio.run(attempt())
    table = foreign_sql.split()[2]
    assert asyncio.run(_fetchval(fresh_db_dsn, f"SELECT to_regclass('public.{table}') IS NOT NULL")) is True
    assert asyncio.run(_fetchval(fresh_db_dsn, f"SELECT to_regclass('public.{MARKER_TABLE}')")) is None


def test_force_replaces_athbench_tables_and_leaves_unrelated_ones(fresh_db_dsn: str) -> None:
    asyncio.run(_execute(fresh_db_dsn, "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)"))
    report = asyncio.run(seed(fresh_db_dsn, 500, force=True))
    assert report.properties == 500
    assert asyncio.run(_fetchval(fresh_db_dsn, "SELECT count(*) FROM orders")) == 1
    state = asyncio.run(database_state(fresh_db_dsn))
    assert state.kind == "athbench" and state.schema_version == SCHEMA_VERSION
    # now athbench's own: a plain re-seed is allowed, ensure_seeded leaves it alone
    assert asyncio.run(ensure_seeded(fresh_db_dsn, 500)) is None


def test_stack_seed_cli_refuses_a_foreign_database_without_force(fresh_db_dsn: str) -> None:
    asyncio.run(_execute(fresh_db_dsn, "CREATE TABLE orders (id int)"))
    result = CliRunner().invoke(cli_app, ["stack", "seed", "-n", "200", "--postgres-dsn", fresh_db_dsn])
    assert result.exit_code == 2, result.output
    assert "refusing" in result.output
    assert asyncio.run(_fetchval(fresh_db_dsn, "SELECT to_regclass('public.properties')")) is None
    forced = CliRunner().invoke(cli_app, ["stack", "seed", "-n", "200", "--postgres-dsn", fresh_db_dsn, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "Seeded 200 properties," in forced.output and "SeedReport(" not in forced.output
    assert asyncio.run(_fetchval(fresh_db_dsn, "SELECT count(*) FROM properties")) == 200


def test_an_interrupted_seed_leaves_nothing_and_is_redone(fresh_db_dsn: str) -> None:
    """Interrupted after `properties` has rows (the first chunk's progress call): nothing committed."""

    class Interrupted(Exception):
        pass

    def interrupt(done: int, total: int) -> None:
        raise Interrupted(f"{done}/{total}")

    with pytest.raises(Interrupted):
        asyncio.run(seed(fresh_db_dsn, 60_000, progress=interrupt))
    assert asyncio.run(database_state(fresh_db_dsn)).kind == "empty"
    report = asyncio.run(ensure_seeded(fresh_db_dsn, 1000))
    assert report is not None and report.properties == 1000
    counts = asyncio.run(
        _fetchval(
            fresh_db_dsn,
            "SELECT array[(SELECT count(*) FROM users), (SELECT count(*) FROM portfolios), "
            "(SELECT count(*) FROM pg_indexes WHERE indexname = 'properties_neighbourhood_class_idx')]",
        )
    )
    assert counts[0] > 0 and counts[1] > 0 and counts[2] == 1


def test_a_cancelled_seed_task_leaves_nothing(fresh_db_dsn: str) -> None:
    async def cancel_after_first_chunk() -> None:
        first_chunk = asyncio.Event()
        task = asyncio.create_task(seed(fresh_db_dsn, 60_000, progress=lambda done, total: first_chunk.set()))
        await first_chunk.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_after_first_chunk())
    assert asyncio.run(database_state(fresh_db_dsn)).kind == "empty"
