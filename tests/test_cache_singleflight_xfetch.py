"""Single-flight coalescing and XFetch early refresh (L1-only cache, no Redis needed)."""

from __future__ import annotations

import asyncio

import pytest

from system_under_test.cache import CacheConfig, MultiLevelCache
from system_under_test.cache.singleflight import SingleFlight
from system_under_test.cache.xfetch import should_refresh_early


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def l1_only(clock: FakeClock | None = None, rand: object = None, **config: object) -> MultiLevelCache:
    kwargs = {"clock": clock or FakeClock()}
    if rand is not None:
        kwargs["rand"] = rand
    return MultiLevelCache(CacheConfig(**config), None, None, **kwargs)  # type: ignore[arg-type]


async def test_n_concurrent_misses_run_one_computation() -> None:
    cache = l1_only()
    calls = 0
    gate = asyncio.Event()

    async def load() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return {"v": 42}

    readers = [asyncio.create_task(cache.get_or_load("k", load, endpoint="e")) for _ in range(50)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*readers)
    assert calls == 1
    assert all(r == {"v": 42} for r in results)
    origin = cache.stats()["tiers"]["origin"]["e"]
    assert origin == {"loads": 1, "coalesced": 49}


async def test_a_cancelled_caller_does_not_cancel_the_shared_computation() -> None:
    flight = SingleFlight()
    gate = asyncio.Event()

    async def compute() -> int:
        await gate.wait()
        return 7

    task, leader = flight.start("k", compute)
    same, joined_as_leader = flight.start("k", compute)
    assert same is task and leader and not joined_as_leader

    async def caller() -> int:
        return await asyncio.shield(task)

    first = asyncio.create_task(caller())
    second = asyncio.create_task(caller())
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 7
    assert first.cancelled() and not task.cancelled()
    await asyncio.sleep(0)
    assert not flight.in_flight("k")


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache = l1_only()

    async def broken() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("db said no")

    results = await asyncio.gather(
        *(cache.get_or_load("k", broken, endpoint="e") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)

    async def ok() -> int:
        return 1

    assert await cache.get_or_load("k", ok, endpoint="e") == 1


def test_xfetch_rule_fires_earlier_for_expensive_values() -> None:
    # u = e^-1 gives -ln(u) = 1: refresh fires exactly when expiry - now <= delta * beta
    u = 0.36787944117144233
    assert should_refresh_early(now=95.0, expiry=100.0, delta=5.0, rand=lambda: u)
    assert not should_refresh_early(now=94.0, expiry=100.0, delta=5.0, rand=lambda: u)
    assert should_refresh_early(now=94.0, expiry=100.0, delta=5.0, beta=2.0, rand=lambda: u)
    assert not should_refresh_early(now=99.9, expiry=100.0, delta=5.0, beta=0.0, rand=lambda: u)


async def test_xfetch_refreshes_a_hot_key_before_it_expires() -> None:
    clock = FakeClock()
    draws = [0.5]
    cache = l1_only(clock=clock, rand=lambda: draws[0], l1_ttl_s=100.0, l2_ttl_s=100.0)
    version = 0

    async def load() -> int:
        nonlocal version
        clock.now += 2.0  # the computation takes 2 s: delta = 2
        version += 1
        return version

    assert await cache.get_or_load("hot", load, endpoint="e") == 1
    expiry = clock.now + 100.0
    # far from expiry: -2 * ln(0.5) = 1.39 s of look-ahead is not enough
    clock.now = expiry - 50.0
    assert await cache.get_or_load("hot", load, endpoint="e") == 1
    await asyncio.sleep(0)
    assert version == 1
    # 1 s before expiry: the rule fires, the reader still gets the cached value at once
    clock.now = expiry - 1.0
    assert await cache.get_or_load("hot", load, endpoint="e") == 1
    for _ in range(5):
        await asyncio.sleep(0)
    assert version == 2
    assert cache.early_refreshes == 1
    assert await cache.get_or_load("hot", load, endpoint="e") == 2  # refreshed value, new expiry
    stats = cache.stats()
    assert stats["tiers"]["origin"]["e"]["loads"] == 1  # early refreshes are not counted as misses
    assert stats["tiers"]["l1"]["e"]["hits"] == 3


async def test_xfetch_under_real_random_draws_refreshes_before_expiry() -> None:
    clock = FakeClock()
    cache = l1_only(clock=clock, l1_ttl_s=10.0, l2_ttl_s=10.0)
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        clock.now += 1.0
        return loads

    await cache.get_or_load("hot", load, endpoint="e")
    expiry = clock.now + 10.0
    clock.now = expiry - 0.5  # 0.5 s left, delta 1 s: P(fire) = 1 - e^-0.5 = 0.39 per read
    for _ in range(40):
        await cache.get_or_load("hot", load, endpoint="e")
        await asyncio.sleep(0)
        if loads > 1:
            break
    assert loads == 2, "no early refresh in 40 reads (probability 0.61^40 < 1e-8)"


def test_config_from_env_names_the_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHBENCH_L1_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="ATHBENCH_L1_MAX_BYTES"):
        CacheConfig.from_env()
    monkeypatch.setenv("ATHBENCH_L1_MAX_BYTES", "4096")
    assert CacheConfig.from_env().l1_max_bytes == 4096
