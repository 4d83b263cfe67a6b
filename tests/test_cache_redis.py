"""The optimized cache against a real Redis: tier counters vs Redis's own, invalidation between
instances, and degradation while Redis is down (breaker opens, closes when Redis is back)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from harness.processes import ProcessGroup
from harness.redis_server import EmbeddedRedis
from system_under_test.cache import CacheConfig, MultiLevelCache
from system_under_test.resilience import State, build_policies


@contextlib.asynccontextmanager
async def flushed_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_url)
    await c.flushdb()
    try:
        yield c
    finally:
        await c.aclose()


def optimized(client: aioredis.Redis, **config: object) -> MultiLevelCache:
    return MultiLevelCache(CacheConfig(**config), client, build_policies().redis)  # type: ignore[arg-type]


async def keyspace(client: aioredis.Redis) -> tuple[int, int]:
    info = await client.info("stats")
    return int(info["keyspace_hits"]), int(info["keyspace_misses"])


async def test_l2_counters_agree_with_redis_keyspace_hits_and_misses(redis_url: str) -> None:
    async with flushed_client(redis_url) as client:
        await check_counters(client)


async def check_counters(client: aioredis.Redis) -> None:
    writer = optimized(client)
    reader = optimized(client, l1_max_entries=5)  # a small L1 forces L2 lookups

    async def load_for(key: str) -> dict[str, str]:
        return {"key": key}

    for i in range(20):
        await writer.get_or_load(f"k{i}", lambda i=i: load_for(f"k{i}"), endpoint="e")
    before = await keyspace(client)
    for round_ in range(3):
        for i in range(30):  # k20..k29 were never written: L2 misses
            value = await reader.get_or_load(f"k{i}", lambda i=i: load_for(f"k{i}"), endpoint="e")
            assert value == {"key": f"k{i}"}, round_
    after = await keyspace(client)
    l2 = reader.stats()["tiers"]["l2"]["e"]
    assert l2["hits"] > 0 and l2["misses"] > 0
    l1 = reader.stats()["tiers"]["l1"]["e"]
    assert l2["hits"] + l2["misses"] == l1["misses"]  # every L1 miss asked L2 once
    # Each L2 hit is a Redis keyspace hit, each miss a keyspace miss; the lease check (the invalidation
    # sequence number read with the entry, the tombstones read by a store) adds keyspace lookups of its own.
    assert after[0] - before[0] >= l2["hits"] and after[1] - before[1] >= l2["misses"]
    assert l2["errors"] == 0


async def test_invalidation_reaches_another_instance_over_pubsub(redis_url: str) -> None:
    async with flushed_client(redis_url) as client:
        await check_invalidation(client, redis_url)


async def check_invalidation(client: aioredis.Redis, redis_url: str) -> None:
    other_client = aioredis.Redis.from_url(redis_url)
    a, b = optimized(client), optimized(other_client)
    await a.start()
    await b.start()
    try:
        version = {"n": 1}

        async def load() -> int:
            return version["n"]

        assert await a.get_or_load("property:7:assessment", load, endpoint="e") == 1
        assert await b.get_or_load("property:7:assessment", load, endpoint="e") == 1  # from L2 into b's L1
        assert "property:7:assessment" in b.l1
        version["n"] = 2
        await a.invalidate_prefix("property:7:")
        for _ in range(100):
            if "property:7:assessment" not in b.l1:
                break
            await asyncio.sleep(0.01)
        assert "property:7:assessment" not in b.l1
        assert await b.get_or_load("property:7:assessment", load, endpoint="e") == 2
        assert b.bus is not None and b.bus.received == 1
    finally:
        await a.close()
        await b.close()
        await other_client.aclose()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    group = ProcessGroup(tmp_path / "logs")
    server = EmbeddedRedis(tmp_path / "redis", group)
    server.start()
    yield server
    group.stop_all()


async def test_redis_down_reads_degrade_to_l1_and_loader_breaker_opens_then_closes(
    own_redis: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATHBENCH_BREAKER_WAIT_S", "0.5")
    c = aioredis.Redis.from_url(own_redis.url, socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = optimized(c)
    assert cache.l2 is not None and cache.l2.policy.breaker is not None
    breaker = cache.l2.policy.breaker
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        return "fresh"

    try:
        await cache.get_or_load("cached", load, endpoint="e")
        own_redis.stop()
        assert await cache.get_or_load("cached", load, endpoint="e") == "fresh"  # L1
        for i in range(10):  # L1 misses: L2 fails, the loader answers
            assert await asyncio.wait_for(cache.get_or_load(f"new{i}", load, endpoint="e"), 2.0) == "fresh"
        assert breaker.state is State.OPEN
        assert cache.stats()["tiers"]["l2"]["e"]["errors"] >= 5
        own_redis.start()
        await asyncio.sleep(0.6)  # wait in open
        for i in range(5):
            await cache.get_or_load(f"after{i}", load, endpoint="e")
        assert breaker.state is State.CLOSED
        assert await c.exists("cache:after4") == 1  # L2 written again
    finally:
        await c.aclose()


async def test_most_read_keys_are_warmed_into_l1_of_a_new_process(redis_url: str) -> None:
    async with flushed_client(redis_url) as client:
        first = optimized(client)

        async def load() -> str:
            return "v"

        for _ in range(5):
            await first.get_or_load("hot", load, endpoint="e")
        await first.get_or_load("cold", load, endpoint="e")
        await client.set("cache:garbage", b"not json")
        await first.close()  # records read counts in Redis
        second = optimized(client, warm_keys=1)
        await second.start()
        try:
            assert second.l1.keys() == ["hot"]
            assert await second.get_or_load("garbage", load, endpoint="e") == "v"  # a bad L2 entry is a miss
        finally:
            await second.close()
