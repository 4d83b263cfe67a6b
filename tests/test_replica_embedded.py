"""The embedded streaming replica: base backup, hot standby, replication of new writes, read-only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.postgres import EmbeddedPostgres, PostgresError
from harness.processes import ProcessGroup
from harness.replica import EmbeddedReplica


@pytest.fixture(scope="module")
def primary_and_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedPostgres, EmbeddedReplica]]:
    base = tmp_path_factory.mktemp("replica")
    group = ProcessGroup(base / "logs")
    try:
        primary = EmbeddedPostgres(base / "primary", group, settings={"fsync": "off"})
        primary.start()
        asyncio.run(execute(primary.dsn, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)"))
        replica = EmbeddedReplica(primary, base / "standby", group)
        replica.start()
        yield primary, replica
    finally:
        group.stop_all()


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fetchval(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_replica_is_a_streaming_hot_standby(primary_and_replica: tuple[EmbeddedPostgres, EmbeddedReplica]) -> None:
    primary, replica = primary_and_replica
    assert asyncio.run(fetchval(replica.dsn_for("postgres"), "SELECT pg_is_in_recovery()")) is True
    assert asyncio.run(fetchval(replica.dsn_for("postgres"), "SELECT count(*) FROM t")) == 2
    senders = asyncio.run(fetchval(primary.dsn, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"))
    assert senders == 1


def test_new_writes_reach_the_replica(primary_and_replica: tuple[EmbeddedPostgres, EmbeddedReplica]) -> None:
    primary, replica = primary_and_replica
    asyncio.run(execute(primary.dsn, "INSERT INTO t SELECT g FROM generate_series(3, 1000) g"))
    waited = replica.wait_caught_up("postgres")
    assert waited < 30
    assert asyncio.run(fetchval(replica.dsn_for("postgres"), "SELECT count(*) FROM t")) == 1000


def test_replica_refuses_writes(primary_and_replica: tuple[EmbeddedPostgres, EmbeddedReplica]) -> None:
    _, replica = primary_and_replica
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        asyncio.run(execute(replica.dsn_for("postgres"), "INSERT INTO t VALUES (0)"))


def test_replica_needs_a_running_primary_and_an_empty_directory(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path / "logs")
    stopped = EmbeddedPostgres(tmp_path / "primary", group)
    with pytest.raises(PostgresError, match="primary PostgreSQL is not running"):
        EmbeddedReplica(stopped, tmp_path / "standby", group).start()
    stopped.port, stopped.child = 1, object()  # type: ignore[assignment]
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(PostgresError, match="not empty"):
        EmbeddedReplica(stopped, tmp_path / "busy", group).start()
