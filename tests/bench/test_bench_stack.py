"""pytest-benchmark suite of the hot paths that need the real stack (embedded PostgreSQL and Redis).

Run with `--benchmark-only` (skipped by default).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from benchmarks.bench_energy import BUILDING
from system_under_test.db import Database
from system_under_test.health.cpu import CpuSampler
from system_under_test.health.monitor import HealthMonitor
from tests.sut_support import running_app, seeded_database, settings_for

PROPERTIES = 500


@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, PROPERTIES) as (dsn, _):
        yield dsn


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_bench_health_round_optimized(
    benchmark, loop: asyncio.AbstractEventLoop, seeded_dsn: str, redis_url: str
) -> None:
    db = loop.run_until_complete(Database.open(seeded_dsn, 4))
    redis = aioredis.from_url(redis_url)
    sampler = CpuSampler()
    sampler.sample()
    monitor = HealthMonitor("optimized", db, redis, 3600.0, sampler)
    try:
        report = benchmark(lambda: loop.run_until_complete(monitor.run_round()))
        assert report.status in ("pass", "warn")
    finally:
        loop.run_until_complete(redis.aclose())
        loop.run_until_complete(db.close())


def test_bench_energy_endpoints_in_process(
    benchmark, loop: asyncio.AbstractEventLoop, seeded_dsn: str, redis_url: str
) -> None:
    """Ten GET (cached) + ten POST energy assessments through the ASGI app, lifespan running."""

    async def requests(client: httpx.AsyncClient) -> None:
        for _ in range(10):
            (await client.get("/api/v1/properties/1/energy-assessment")).raise_for_status()
            (await client.post("/api/v1/energy-assessments", json=BUILDING)).raise_for_status()

    stack = contextlib.AsyncExitStack()
    _, client = loop.run_until_complete(stack.enter_async_context(running_app(settings_for(seeded_dsn, redis_url))))
    try:
        loop.run_until_complete(requests(client))  # warm the cache and the pool
        benchmark(lambda: loop.run_until_complete(requests(client)))
    finally:
        loop.run_until_complete(stack.aclose())
