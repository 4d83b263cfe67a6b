"""Adaptive L2 bypass: most L1 misses skip Redis while L2 reads do not hit, probes keep the estimate,
the tier comes back when hits do; answers stay right throughout."""

from __future__ import annotations

import redis.asyncio as aioredis

from system_under_test.cache import CacheConfig, MultiLevelCache
from system_under_test.cache.bypass import L2Bypass
from system_under_test.cache.l1 import ENTRY_OVERHEAD_BYTES
from system_under_test.cache.multilevel import decode
from system_under_test.resilience import build_policies


def test_bypass_engages_below_the_threshold_and_probes_one_miss_in_n() -> None:
    bypass = L2Bypass(0.05, window=100, probe_every=4)
    for _ in range(99):
        bypass.record(False)
    assert not bypass.bypassing  # the window is not full yet: no decision
    bypass.record(False)
    assert bypass.bypassing
    consulted = [bypass.consult() for _ in range(40)]
    assert sum(consulted) == 10 and bypass.skipped == 30


def test_bypass_decides_after_min_reads_without_waiting_for_a_full_window() -> None:
    bypass = L2Bypass(0.05, window=1000, min_reads=100)
    for _ in range(99):
        bypass.record(False)
    assert not bypass.bypassing
    bypass.record(False)
    assert bypass.bypassing  # 100 misses decide; the window keeps growing to 1,000 reads
    for _ in range(6):
        bypass.record(True)  # 6 hits in 106 reads: above 5 %
    assert not bypass.bypassing and bypass.describe()["window_reads"] == 106


def test_bypass_ends_when_hits_come_back_and_is_off_at_zero() -> None:
    bypass = L2Bypass(0.05, window=100)
    for _ in range(100):
        bypass.record(False)
    assert bypass.bypassing
    for _ in range(5):
        bypass.record(True)  # 5 hits in the last 100 reads: at the threshold
    assert not bypass.bypassing and bypass.hit_ratio() == 0.05
    off = L2Bypass(0.0, window=10)
    for _ in range(50):
        off.record(False)
    assert not off.bypassing and all(off.consult() for _ in range(50))


async def test_cache_skips_redis_for_most_misses_of_never_repeated_keys(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        cache = MultiLevelCache(CacheConfig(l2_min_hit_ratio=0.05), client, build_policies().redis)
        cache.l2_bypass = L2Bypass(0.05, window=50, probe_every=10)

        async def load(i: int) -> dict[str, int]:
            return {"id": i}

        for i in range(50):  # every L2 read misses: the window fills with misses
            assert await cache.get_or_load(f"k:{i}", lambda i=i: load(i), endpoint="e") == {"id": i}
        assert cache.l2_bypass.bypassing
        stored_before = len(await client.keys("cache:k:*"))
        for i in range(50, 250):
            assert await cache.get_or_load(f"k:{i}", lambda i=i: load(i), endpoint="e") == {"id": i}
        stored = len(await client.keys("cache:k:*")) - stored_before
        assert stored == 20  # only the probes (1 in 10) read and stored L2
        assert cache.stats()["l2_bypass"]["skipped"] == 180
    finally:
        await client.aclose()


async def test_a_body_only_l1_keeps_is_not_serialized_and_one_l2_stores_is(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    body = '{"property": {"id": 1, "address": "Quai \\"A\\" 1"}}'  # quotes: its JSON is longer than it
    try:
        cache = MultiLevelCache(CacheConfig(l2_min_hit_ratio=0.05), client, build_policies().redis)
        cache.l2_bypass = L2Bypass(0.05, window=1, probe_every=1000)
        cache.l2_bypass.record(False)  # bypassing: the next misses skip L2 (reads and stores)

        async def load() -> str:
            return body

        assert await cache.get_or_load("k:skipped", load, endpoint="e") == body
        skipped = ENTRY_OVERHEAD_BYTES + len("k:skipped") + len(body)  # what L1 holds, not its JSON
        assert cache.l1.bytes == skipped
        assert await client.get("cache:k:skipped") is None
        cache.l2_bypass = L2Bypass(0.0)  # every miss consults L2 again
        assert await cache.get_or_load("k:stored", load, endpoint="e") == body
        stored = await client.get("cache:k:stored")
        assert stored is not None and decode(stored).value == body
        assert cache.l1.bytes == skipped + ENTRY_OVERHEAD_BYTES + len("k:stored") + len(stored)
        assert len(stored) > len(body) + 4  # the JSON L2 holds escapes the quotes
    finally:
        await client.aclose()
