"""L1: LRU order, TTL, entry bound and byte bound; the naive baseline cache."""

from __future__ import annotations

import pytest

from system_under_test.cache import NaiveCache
from system_under_test.cache.l1 import ENTRY_OVERHEAD_BYTES, L1Cache


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_byte_bound_evicts_least_recently_used_until_within_bound() -> None:
    per_entry = 1000 + ENTRY_OVERHEAD_BYTES + 2  # value size + overhead + 2-char key
    cache = L1Cache(max_entries=1000, max_bytes=3 * per_entry, default_ttl_s=60)
    for key in ("k0", "k1", "k2"):
        cache.set(key, key, 1000)
    assert cache.bytes == 3 * per_entry
    cache.get("k0")  # k1 is now the least recently used
    cache.set("k3", "k3", 1000)
    assert cache.keys() == ["k2", "k0", "k3"]
    assert cache.bytes <= cache.max_bytes
    assert cache.evictions == 1
    cache.set("k4", "k4", 1500)  # 1.5 entries more: evicts the two least recently used
    assert cache.keys() == ["k3", "k4"]
    assert cache.bytes <= cache.max_bytes


def test_entry_bound_is_enforced_too() -> None:
    cache = L1Cache(max_entries=2, max_bytes=10**9, default_ttl_s=60)
    for i in range(5):
        cache.set(f"k{i}", i, 10)
    assert cache.keys() == ["k3", "k4"]


def test_a_value_larger_than_the_whole_cache_is_not_stored() -> None:
    cache = L1Cache(max_entries=10, max_bytes=5000, default_ttl_s=60)
    cache.set("small", 1, 10)
    assert cache.set("huge", 2, 10_000) is False
    assert "huge" not in cache and "small" in cache


def test_replacing_a_key_accounts_bytes_once() -> None:
    cache = L1Cache(max_entries=10, max_bytes=10**6, default_ttl_s=60)
    cache.set("k", 1, 100)
    cache.set("k", 2, 300)
    assert cache.bytes == 300 + ENTRY_OVERHEAD_BYTES + 1
    assert cache.get("k") == 2


def test_ttl_expiry_and_prefix_delete() -> None:
    clock = FakeClock()
    cache = L1Cache(max_entries=10, max_bytes=10**6, default_ttl_s=10, clock=clock)
    cache.set("property:1:a", "a", 10)
    cache.set("property:1:b", "b", 10, ttl_s=30)
    cache.set("property:12:a", "c", 10)
    clock.now = 10.0
    assert cache.get("property:1:a") is None
    assert cache.expirations == 1
    assert cache.delete_prefix("property:1:") == 1
    assert cache.keys() == ["property:12:a"]


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_bytes=0"):
        L1Cache(max_entries=1, max_bytes=0, default_ttl_s=1)


async def test_naive_cache_never_evicts_and_recomputes_after_five_minutes() -> None:
    clock = FakeClock()
    cache = NaiveCache(clock=clock)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    for i in range(50):
        await cache.get_or_load(f"k{i}", load, endpoint="e")
    assert await cache.get_or_load("k0", load, endpoint="e") == 1
    clock.now = 299.0
    assert await cache.get_or_load("k0", load, endpoint="e") == 1
    clock.now = 300.0
    assert await cache.get_or_load("k0", load, endpoint="e") == 51
    stats = cache.stats()
    assert stats["sizes"]["l1"]["entries"] == 50
    assert stats["tiers"]["l1"]["e"] == {"hits": 2, "misses": 51, "errors": 0, "hit_ratio": 2 / 53}
