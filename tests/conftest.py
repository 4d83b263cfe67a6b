"""Shared fixtures: one real embedded PostgreSQL 16 and one real Redis for the whole test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.postgres import EmbeddedPostgres, pg_bin_dir
from harness.processes import ProcessGroup
from harness.redis_server import EmbeddedRedis
from tests import machine_state

MACHINE_KEY = pytest.StashKey[machine_state.Snapshot]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[MACHINE_KEY] = machine_state.snapshot()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A failed test's report says what the machine did meanwhile (see tests/machine_state.py)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and MACHINE_KEY in item.stash:
        text = machine_state.describe(item.stash[MACHINE_KEY], machine_state.snapshot())
        report.sections.append(("machine since the test's setup (processes still running)", text))


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def server_group(servers_dir: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(servers_dir / "logs")
    yield group
    group.stop_all()


@pytest.fixture(scope="session")
def embedded_postgres(servers_dir: Path, server_group: ProcessGroup) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(servers_dir / "pgdata", server_group, settings={"fsync": "off"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_dsn(embedded_postgres: EmbeddedPostgres) -> str:
    return embedded_postgres.dsn


@pytest.fixture(scope="session")
def pg_bin() -> Path:
    return pg_bin_dir()


@pytest.fixture
def fresh_db_dsn(embedded_postgres: EmbeddedPostgres) -> Iterator[str]:
    """A new, empty database on the session's server, dropped after the test."""
    import asyncio

    name = f"t_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(embedded_postgres.dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield embedded_postgres.dsn_for(name)
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def embedded_redis(servers_dir: Path, server_group: ProcessGroup) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(servers_dir / "redis", server_group)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(embedded_redis: EmbeddedRedis) -> str:
    return embedded_redis.url
