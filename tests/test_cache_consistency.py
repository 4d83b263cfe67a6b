"""Cache consistency under writes, each race reproduced deterministically: a reader after an invalidation
never joins a load that read the old row; another process's late load cannot store an old value after the
delete; an invalidation Redis refused is retried; a PATCH that times out after COMMIT still invalidates;
writes invalidate the aggregates that include the property; a miss after a write reads the primary and
skips L3 (real Redis and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from system_under_test.cache import CacheConfig, MultiLevelCache
from system_under_test.cache.consistency import READ_PRIMARY
from system_under_test.resilience import CallTimeout, build_policies
from tests.sut_support import ADMIN_TOKEN, running_app, seeded_database, settings_for

pytestmark = pytest.mark.asyncio(loop_scope="session")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextlib.asynccontextmanager
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


def cache_on(client: aioredis.Redis | None) -> MultiLevelCache:
    policy = build_policies().redis if client is not None else None
    return MultiLevelCache(CacheConfig(), client, policy)  # type: ignore[arg-type]


class Row:
    """The 'database row' loaders read; `gate` holds a load after it read, before it returns."""

    def __init__(self) -> None:
        self.value = "old"
        self.reads = 0

    async def load(self, gate: asyncio.Event | None = None) -> dict[str, str]:
        self.reads += 1
        seen = self.value
        if gate is not None:
            await gate.wait()
        return {"v": seen}


async def test_a_reader_after_an_invalidation_does_not_join_the_old_load() -> None:
    cache, row, gate = cache_on(None), Row(), asyncio.Event()
    early = asyncio.create_task(cache.get_or_load("property:1:x", lambda: row.load(gate), endpoint="e"))
    while row.reads == 0:
        await asyncio.sleep(0)  # until the load read the old row (it then waits on the gate)
    row.value = "new"  # the write commits ...
    await cache.invalidate_prefix("property:1:")  # ... and invalidates
    late = asyncio.create_task(cache.get_or_load("property:1:x", row.load, endpoint="e"))
    assert (await late) == {"v": "new"}
    gate.set()
    assert (await early) == {"v": "old"}  # it began before the write: the old value is its due
    assert (await cache.get_or_load("property:1:x", row.load, endpoint="e")) == {"v": "new"}  # not stored


async def test_another_process_cannot_store_its_old_load_after_the_delete(redis_url: str) -> None:
    async with redis_client(redis_url) as client:
        slow, writer, reader = cache_on(client), cache_on(client), cache_on(client)  # three processes
        row, gate = Row(), asyncio.Event()
        loading = asyncio.create_task(slow.get_or_load("property:2:x", lambda: row.load(gate), endpoint="e"))
        while row.reads == 0:
            await asyncio.sleep(0.001)  # `slow` missed L2 and read the old row
        row.value = "new"
        await writer.invalidate_prefix("property:2:")  # `slow` gets no pub/sub here: its bus is not started
        gate.set()
        assert (await loading) == {"v": "old"}
        assert await client.get("cache:property:2:x") is None  # the late store was refused
        assert (await reader.get_or_load("property:2:x", row.load, endpoint="e")) == {"v": "new"}


async def test_an_invalidation_redis_refused_is_retried_and_not_read_around(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with redis_client(redis_url) as client:
        writer, other = cache_on(client), cache_on(client)
        row = Row()
        assert (await writer.get_or_load("property:3:x", row.load, endpoint="e")) == {"v": "old"}
        assert writer.l2 is not None
        real_tombstone, failures = writer.l2.tombstone, [0]

        async def flaky(target: str, ttl_s: float) -> int:
            if failures[0] < 3:  # Redis unreachable (breaker open, timeout) for the first attempts
                failures[0] += 1
                raise ConnectionError("redis unreachable")
            return await real_tombstone(target, ttl_s)

        monkeypatch.setattr(writer.l2, "tombstone", flaky)
        row.value = "new"
        await writer.invalidate_prefix("property:3:")
        assert writer.stats()["pending_invalidations"] == 1
        # the writer itself does not read the old value back from L2 meanwhile
        assert (await writer.get_or_load("property:3:x", row.load, endpoint="e")) == {"v": "new"}
        for _ in range(200):
            if not writer.stats()["pending_invalidations"]:
                break
            await asyncio.sleep(0.05)
        assert failures[0] == 3 and writer.stats()["pending_invalidations"] == 0
        assert (await other.get_or_load("property:3:x", row.load, endpoint="e")) == {"v": "new"}
        await writer.close()


async def test_a_miss_after_a_write_reads_the_primary_and_skips_l3() -> None:
    cache = cache_on(None)
    seen: list[tuple[str, bool]] = []

    async def l3() -> dict[str, str]:
        seen.append(("l3", READ_PRIMARY.get()))
        return {"v": "view"}

    async def loader() -> dict[str, str]:
        seen.append(("live", READ_PRIMARY.get()))
        return {"v": "live"}

    assert (await cache.get_or_load("portfolio:1:overview", loader, endpoint="e", l3=l3)) == {"v": "view"}
    await cache.invalidate("portfolio:1:overview")
    assert (await cache.get_or_load("portfolio:1:overview", loader, endpoint="e", l3=l3)) == {"v": "live"}
    assert seen == [("l3", False), ("live", True)]


# -- the service's PATCH --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, 1000) as (dsn, _):
        yield dsn


async def _fetchrow(dsn: str, sql: str, *args: Any) -> asyncpg.Record:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


BEST = {"insulation": "nzeb", "windows": "triple", "heating_system": "heat_pump", "hot_water": "heat_pump"}
WORST = {"insulation": "none", "windows": "single", "heating_system": "electric_resistance", "hot_water": "electric"}


async def test_a_patch_timed_out_after_commit_still_invalidates(seeded_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url)) as (app, client):
        await client.patch("/api/v1/properties/5", json=WORST, headers=AUTH)
        before = (await client.get("/api/v1/properties/5/energy-assessment")).json()
        db, real_run = app.state.db, app.state.db.run

        async def commit_then_time_out(operation: Any) -> Any:
            await real_run(operation)  # committed
            raise CallTimeout("postgres", 2.0)  # ... and the time limit fired before the answer

        db.run = commit_then_time_out
        try:
            response = await client.patch("/api/v1/properties/5", json=BEST, headers=AUTH)
        finally:
            db.run = real_run
        assert response.status_code == 503
        after = (await client.get("/api/v1/properties/5/energy-assessment")).json()
    assert after["property"]["insulation"] == "nzeb" != before["property"]["insulation"]


async def test_a_patch_invalidates_overviews_and_comparisons_that_include_the_property(
    seeded_dsn: str, redis_url: str
) -> None:
    holding = await _fetchrow(
        seeded_dsn,
        "SELECT pp.property_id, pf.user_id, n.slug FROM portfolio_properties pp "
        "JOIN portfolios pf ON pf.id = pp.portfolio_id JOIN properties p ON p.id = pp.property_id "
        "JOIN neighbourhoods n ON n.id = p.neighbourhood_id ORDER BY pp.property_id LIMIT 1",
    )
    pid, user, slug = holding["property_id"], holding["user_id"], holding["slug"]
    async with running_app(settings_for(seeded_dsn, redis_url)) as (_, client):
        await client.patch(f"/api/v1/properties/{pid}", json=WORST, headers=AUTH)
        overview = (await client.get(f"/api/v1/portfolios/{user}/overview")).json()
        comparison = (await client.get(f"/api/v1/market/{slug}/comparison")).json()
        assert (await client.patch(f"/api/v1/properties/{pid}", json=BEST, headers=AUTH)).status_code == 200
        overview_after = (await client.get(f"/api/v1/portfolios/{user}/overview")).json()
        comparison_after = (await client.get(f"/api/v1/market/{slug}/comparison")).json()
    assert overview_after["class_distribution"] != overview["class_distribution"]
    assert overview_after["total_estimated_annual_savings_eur"] != overview["total_estimated_annual_savings_eur"]
    assert comparison_after["class_distribution"] != comparison["class_distribution"]


async def test_a_read_between_the_local_invalidation_and_the_redis_delete_does_not_refill_l1(
    redis_url: str,
) -> None:
    async with redis_client(redis_url) as client:
        cache, row = cache_on(client), Row()
        assert (await cache.get_or_load("property:3:x", row.load, endpoint="e")) == {"v": "old"}  # L1 and L2
        row.value = "new"
        reached, gate = asyncio.Event(), asyncio.Event()
        tombstone = cache.l2.tombstone  # type: ignore[union-attr]

        async def slow_tombstone(target: str, ttl_s: float) -> int:
            reached.set()
            await gate.wait()  # Redis still holds the old value, L1 no longer does
            return await tombstone(target, ttl_s)

        cache.l2.tombstone = slow_tombstone  # type: ignore[union-attr,method-assign]
        invalidating = asyncio.create_task(cache.invalidate_prefix("property:3:"))
        await reached.wait()
        assert (await cache.get_or_load("property:3:x", row.load, endpoint="e")) == {"v": "new"}  # not L2's copy
        gate.set()
        await invalidating  # the write is acknowledged now: later reads must see it
        assert (await cache.get_or_load("property:3:x", row.load, endpoint="e")) == {"v": "new"}
