"""Helpers for the service tests (`tests/test_sut_*.py`): seeded databases and an in-process app."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio
import redis.exceptions
from fastapi import FastAPI

from system_under_test.app import create_app
from system_under_test.data.seed import SeedReport, seed
from system_under_test.settings import Settings

ADMIN_TOKEN = "test-admin-token"


def dsn_with_database(server_dsn: str, database: str) -> str:
    """The same server, another database."""
    parts = urlsplit(server_dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def seeded_database(server_dsn: str, properties: int) -> Iterator[tuple[str, SeedReport]]:
    """A new database on the server seeded with `properties` properties, dropped afterwards."""
    name = f"sut_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(server_dsn, f'CREATE DATABASE "{name}"'))
    dsn = dsn_with_database(server_dsn, name)
    try:
        report = asyncio.run(seed(dsn, properties))
        yield dsn, report
    finally:
        asyncio.run(_execute(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def settings_for(postgres_dsn: str, redis_url: str, **overrides: object) -> Settings:
    """Settings of a test app (admin token set, short health interval unless overridden)."""
    values: dict[str, object] = {
        "postgres_dsn": postgres_dsn,
        "redis_url": redis_url,
        "admin_token": ADMIN_TOKEN,
        "health_interval_s": 60.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan running and an in-process client.

    Redis is flushed first: its cache tier outlives one app, and every test database reuses the same ids.
    """
    with contextlib.suppress(redis.exceptions.ConnectionError):  # tests of an unreachable Redis
        async with redis.asyncio.from_url(settings.redis_url) as client:
            await client.flushdb()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sut.test", timeout=30) as client:
            yield app, client
