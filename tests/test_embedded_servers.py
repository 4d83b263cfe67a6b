"""The embedded PostgreSQL and Redis are real servers on loopback, and stop cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis

from harness.postgres import EmbeddedPostgres, PostgresError, check_reachable
from harness.processes import ProcessGroup, free_port
from harness.redis_server import EmbeddedRedis, RedisError
from harness.redis_server import check_reachable as redis_reachable


def test_postgres_is_real_and_on_loopback(postgres_dsn: str) -> None:
    async def probe() -> tuple[str, str]:
        conn = await asyncpg.connect(postgres_dsn)
        try:
            return await conn.fetchval("SHOW server_version"), await conn.fetchval("SHOW listen_addresses")
        finally:
            await conn.close()

    version, listen = asyncio.run(probe())
    assert version.startswith("16.")
    assert listen == "127.0.0.1"


def test_redis_is_real_and_bounded(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        assert int(client.config_get("maxmemory")["maxmemory"]) > 0
        assert client.config_get("bind")["bind"] == "127.0.0.1"
    finally:
        client.close()


def test_stop_leaves_no_server_processes(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path / "logs")
    pg = EmbeddedPostgres(tmp_path / "pg", group)
    rd = EmbeddedRedis(tmp_path / "redis", group)
    pg.start()
    rd.start()
    pids = [c.pid for c in group.children]
    descendants = [p.pid for pid in pids for p in psutil.Process(pid).children(recursive=True)]
    assert descendants, "postgres should have background workers"
    group.stop_all()
    for pid in pids + descendants:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_port_in_use_is_a_clear_error(tmp_path: Path, embedded_redis: EmbeddedRedis) -> None:
    group = ProcessGroup(tmp_path / "logs")
    with pytest.raises(RedisError, match="already in use"):
        EmbeddedRedis(tmp_path / "redis", group, port=embedded_redis.port).start()
    group.stop_all()


def test_unreachable_external_servers_are_named() -> None:
    port = free_port()
    with pytest.raises(PostgresError, match=f"127.0.0.1:{port}"):
        check_reachable(f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=2)
    with pytest.raises(RedisError, match=f"127.0.0.1:{port}"):
        redis_reachable(f"redis://127.0.0.1:{port}/0", timeout=2)
