"""Bulkhead rejection, time limiter cancellation, and the composed policy."""

from __future__ import annotations

import asyncio
import time

import pytest

from system_under_test.resilience import (
    BreakerConfig,
    BreakerOpen,
    Bulkhead,
    BulkheadFull,
    CallTimeout,
    CircuitBreaker,
    Policy,
    Retry,
    RetryConfig,
    TimeLimiter,
    unavailable_reason,
)


async def test_full_bulkhead_without_wait_rejects_immediately() -> None:
    bulkhead = Bulkhead("b", max_concurrent=2, max_wait_s=0.0)
    release = asyncio.Event()
    holders = [asyncio.create_task(bulkhead.call(release.wait)) for _ in range(2)]
    await asyncio.sleep(0)
    start = time.perf_counter()
    with pytest.raises(BulkheadFull, match="bulkhead 'b' full: 2 calls in flight"):
        await bulkhead.call(release.wait)
    assert time.perf_counter() - start < 0.05
    release.set()
    await asyncio.gather(*holders)
    assert bulkhead.available == 2


async def test_bulkhead_waits_for_a_slot_up_to_its_bound() -> None:
    bulkhead = Bulkhead("b", max_concurrent=1, max_wait_s=0.2)

    async def hold(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    first = asyncio.create_task(bulkhead.call(lambda: hold(0.05)))
    await asyncio.sleep(0)
    assert await bulkhead.call(lambda: hold(0)) == "done"  # got the slot when the first finished
    await first
    blocker = asyncio.create_task(bulkhead.call(lambda: hold(1.0)))
    await asyncio.sleep(0)
    start = time.perf_counter()
    with pytest.raises(BulkheadFull):
        await bulkhead.call(lambda: hold(0))
    waited = time.perf_counter() - start
    assert 0.15 < waited < 0.9
    blocker.cancel()
    await asyncio.gather(blocker, return_exceptions=True)
    assert bulkhead.available == 1


async def test_time_limiter_cancels_the_call() -> None:
    limiter = TimeLimiter("slow-dep", 0.05)
    cancelled = asyncio.Event()

    async def never() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    start = time.perf_counter()
    with pytest.raises(CallTimeout, match=r"'slow-dep' timed out after 0\.05 s"):
        await limiter.call(never)
    assert time.perf_counter() - start < 1.0
    assert cancelled.is_set()


async def test_policy_counts_timeouts_against_the_breaker_and_then_rejects() -> None:
    breaker = CircuitBreaker("p", BreakerConfig(window_size=2, minimum_calls=2, wait_in_open_s=60))
    policy = Policy("p", breaker=breaker, limiter=TimeLimiter("p", 0.01))
    for _ in range(2):
        with pytest.raises(CallTimeout):
            await policy.call(lambda: asyncio.sleep(1))
    with pytest.raises(BreakerOpen) as info:
        await policy.call(lambda: asyncio.sleep(0))
    assert unavailable_reason(info.value) == "p circuit open"


async def test_policy_does_not_retry_rejections_and_bulkhead_full_is_not_a_breaker_failure() -> None:
    breaker = CircuitBreaker("q", BreakerConfig(window_size=2, minimum_calls=1, ignore_exceptions=(BulkheadFull,)))
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    retry = Retry("q", RetryConfig(max_attempts=3, retry_on=lambda e: True), sleep=fake_sleep)
    bulkhead = Bulkhead("q", max_concurrent=1)
    policy = Policy("q", breaker=breaker, bulkhead=bulkhead, retry=retry)
    release = asyncio.Event()
    holder = asyncio.create_task(policy.call(release.wait))
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull):
        await policy.call(lambda: asyncio.sleep(0))
    release.set()
    await holder
    assert breaker.metrics().failed == 0
    assert slept == []  # the rejection was not retried
    assert unavailable_reason(BulkheadFull("q", 1, 0)) == "q overloaded"
    assert unavailable_reason(ValueError()) is None
