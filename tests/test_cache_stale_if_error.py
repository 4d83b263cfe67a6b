"""stale-if-error (RFC 5861): an expired value answers when its load fails on a dependency, within the grace.

Unit tests drive `MultiLevelCache` (no Redis) with a fake clock; the stack test pauses the real PostgreSQL
(harness/faults.py) under the optimized service and reads the X-Cache / Warning headers and /metrics.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.faults import postgres_paused
from harness.stack import Stack, StackConfig
from system_under_test.cache.config import CacheConfig
from system_under_test.cache.multilevel import MultiLevelCache
from system_under_test.resilience import BreakerOpen, State


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(clock: FakeClock, grace_s: float) -> MultiLevelCache:
    config = CacheConfig(l1_ttl_s=10.0, l2_ttl_s=10.0, stale_if_error_s=grace_s)
    return MultiLevelCache(config, None, None, clock=clock, rand=lambda: 0.999)


async def _value(v: Any) -> Any:
    return v


async def _postgres_down() -> Any:
    raise ConnectionRefusedError("connection refused")


async def _breaker_open() -> Any:
    raise BreakerOpen("postgres", State.OPEN, 5.0)


async def _not_found() -> Any:
    raise LookupError("no such row")


def test_expired_value_answers_a_dependency_failure_within_the_grace_only() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        cache = _cache(clock, grace_s=30.0)
        await cache.get_or_load("k", lambda: _value("old"), endpoint="e")
        clock.now += 15.0  # expired 5 s ago
        assert await cache.get_or_load("k", _postgres_down, endpoint="e") == "old"
        assert await cache.get_or_load("k", _breaker_open, endpoint="e") == "old"
        with pytest.raises(LookupError):  # not a dependency failure: raised as it is
            await cache.get_or_load("k", _not_found, endpoint="e")
        assert cache.stats()["stale_served"] == {"e": 2}
        clock.now += 30.0  # 35 s past expiry: beyond the grace
        with pytest.raises(ConnectionRefusedError):
            await cache.get_or_load("k", _postgres_down, endpoint="e")

    asyncio.run(scenario())


def test_no_grace_means_the_error_is_raised() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        cache = _cache(clock, grace_s=0.0)
        await cache.get_or_load("k", lambda: _value("old"), endpoint="e")
        clock.now += 10.5
        with pytest.raises(ConnectionRefusedError):
            await cache.get_or_load("k", _postgres_down, endpoint="e")

    asyncio.run(scenario())


def test_an_invalidated_value_is_never_served_stale() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        cache = _cache(clock, grace_s=30.0)
        await cache.get_or_load("property:1:a", lambda: _value("old"), endpoint="e")
        await cache.invalidate_prefix("property:1:")
        with pytest.raises(ConnectionRefusedError):
            await cache.get_or_load("property:1:a", _postgres_down, endpoint="e")

    asyncio.run(scenario())


# -- against the real stack ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        tmp_path_factory.mktemp("stale-if-error"),
        profile="optimized",
        seed_properties=200,
        service_env={
            "ATHBENCH_PG_TIMEOUT_S": "1",
            "ATHBENCH_BREAKER_WAIT_S": "1",
            "ATHBENCH_L1_TTL_S": "0.5",
            "ATHBENCH_L2_TTL_S": "1",
            "ATHBENCH_STALE_IF_ERROR_S": "60",
        },
    )
    with Stack(config) as running:
        yield running


def _stale_served(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    found = re.findall(r'^athbench_cache_stale_served_total\{endpoint="energy_assessment"\} (\S+)$', text, re.M)
    return sum(float(v) for v in found)


@pytest.mark.slow
def test_postgres_paused_expired_values_served_stale_and_marked(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.service_url, timeout=10) as client:
        path = "/api/v1/properties/{}/energy-assessment"
        fresh = client.get(path.format(11))
        assert fresh.status_code == 200 and fresh.headers.get("x-cache") == "MISS"
        assert client.get(path.format(12)).status_code == 200
        assert client.patch("/api/v1/properties/12", json={"price_eur": 123456.0}, headers=headers).status_code == 200
        time.sleep(1.5)  # both tiers' freshness over; the copies are in their grace
        before = _stale_served(client)
        with postgres_paused(stack):
            stale = client.get(path.format(11))
            assert stale.status_code == 200, stale.text
            assert stale.headers.get("x-cache") == "STALE"
            assert "110" in stale.headers.get("warning", "")
            assert stale.json() == fresh.json()
            assert client.get(path.format(12)).status_code == 503  # invalidated by the PATCH: never stale
            assert client.get(path.format(13)).status_code == 503  # never cached
        assert _stale_served(client) >= before + 1
        deadline = time.monotonic() + 15
        while client.get(path.format(11)).headers.get("x-cache") != "MISS":  # recovered: fresh again
            assert time.monotonic() < deadline
            time.sleep(0.2)
