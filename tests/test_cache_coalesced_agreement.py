"""The service's hit ratio and the offline simulations count coalesced (single-flight joined) misses alike.

A trace with concurrent misses of one key is replayed into the real optimized cache (L1 only), each read's
send and completion times kept; the LRU simulation given those times must give the service's own ratio.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from harness import cache_sim
from system_under_test.cache import CacheConfig, MultiLevelCache

LOAD_S = 0.02


def test_reads_joining_an_inflight_load_are_misses_in_the_simulation() -> None:
    trace = ["a", "a", "a", "b", "a"]
    # reads 1 and 2 sent while read 0's load runs (done at 1.0); read 4 long after
    timing = [(0.0, 1.0), (0.1, 1.0), (0.2, 1.0), (2.0, 2.5), (3.0, 3.01)]
    assert cache_sim.lru_hit_ratio(trace, 10) == pytest.approx(3 / 5)  # instantaneous reads: 1, 2, 4 hit
    assert cache_sim.lru_hit_ratio(trace, 10, timing=timing) == pytest.approx(1 / 5)
    assert cache_sim.belady_hit_ratio(trace, 10, timing=timing) == pytest.approx(1 / 5)
    assert cache_sim.unbounded_hit_ratio(trace, timing=timing) == pytest.approx(1 / 5)
    with pytest.raises(ValueError, match="timing"):
        cache_sim.lru_hit_ratio(trace, 10, timing=timing[:2])


async def _replay(cache: MultiLevelCache, trace: list[int], concurrency: int) -> list[tuple[float, float]]:
    """Each read's (sent, value available): for a read whose own loader ran, when that loader returned
    (the cache stores the value right then), else when the read returned."""
    timing: list[tuple[float, float]] = [(0.0, 0.0)] * len(trace)
    position = iter(range(len(trace)))

    async def worker() -> None:
        for i in position:
            loaded: list[float] = []

            async def load(loaded: list[float] = loaded) -> dict[str, int]:
                await asyncio.sleep(LOAD_S)
                loaded.append(time.monotonic())
                return {"v": 1}

            sent = time.monotonic()
            await cache.get_or_load(f"k{trace[i]}", load, endpoint="e")
            timing[i] = (sent, loaded[0] if loaded else time.monotonic())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timing


def test_service_ratio_equals_the_simulation_on_a_trace_with_concurrent_misses() -> None:
    trace = cache_sim.zipf_trace(list(range(50)), 600, 1.1, seed=3)
    cache = MultiLevelCache(CacheConfig(l1_max_entries=1000), None, None)
    timing = asyncio.run(_replay(cache, trace, concurrency=4))
    stats = cache.stats()
    assert stats["tiers"]["origin"]["e"]["coalesced"] > 0  # the trace did have joined misses
    measured = stats["overall"]["e"]["hit_ratio"]
    simulated = cache_sim.lru_hit_ratio(trace, 1000, timing=timing)
    assert measured == pytest.approx(simulated, abs=1 / len(trace))
    assert cache_sim.lru_hit_ratio(trace, 1000) - measured >= stats["tiers"]["origin"]["e"]["coalesced"] / len(
        trace
    ) - 2 / len(trace)
