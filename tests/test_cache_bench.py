"""Micro-benchmarks (pytest-benchmark; skipped unless run with `--benchmark-only`): L1 get/set cost
and circuit-breaker overhead per call.

    python -m pytest tests/test_cache_bench.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from system_under_test.cache.l1 import L1Cache
from system_under_test.resilience import BreakerConfig, CircuitBreaker

VALUE = {"property": {"id": 1, "area_m2": 80.5, "energy_class": "C"}, "recommendations": [1.0] * 20}
SIZE = len(json.dumps(VALUE))


@pytest.fixture
def full_l1() -> L1Cache:
    cache = L1Cache(max_entries=10_000, max_bytes=10**9, default_ttl_s=600)
    for i in range(10_000):
        cache.set(f"property:{i}:energy-assessment", VALUE, SIZE)
    return cache


def test_l1_get_hit(benchmark: Any, full_l1: L1Cache) -> None:
    assert benchmark(full_l1.get, "property:5000:energy-assessment") is VALUE


def test_l1_get_miss(benchmark: Any, full_l1: L1Cache) -> None:
    assert benchmark(full_l1.get, "property:absent:energy-assessment") is None


def test_l1_set_with_eviction(benchmark: Any, full_l1: L1Cache) -> None:
    keys = iter(range(10**9))
    benchmark(lambda: full_l1.set(f"new:{next(keys)}", VALUE, SIZE))
    assert len(full_l1) == 10_000


def _loop_calls(n: int, breaker: CircuitBreaker | None) -> None:
    async def fn() -> int:
        return 1

    async def run() -> None:
        if breaker is None:
            for _ in range(n):
                await fn()
        else:
            for _ in range(n):
                await breaker.call(fn)

    asyncio.run(run())


@pytest.mark.parametrize("window", ["count", "time", "none"])
def test_breaker_overhead_10k_calls(benchmark: Any, window: str) -> None:
    breaker = None if window == "none" else CircuitBreaker(f"bench-{window}", BreakerConfig(window_type=window))
    benchmark(_loop_calls, 10_000, breaker)
