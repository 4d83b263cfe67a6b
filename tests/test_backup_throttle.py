"""The token bucket, on a fake clock: average rate, bursts, debt, bad input."""

from __future__ import annotations

import pytest

from system_under_test.backup.throttle import TokenBucket


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def bucket(rate: float, burst: float | None = None) -> tuple[TokenBucket, FakeTime]:
    fake = FakeTime()
    return TokenBucket(rate, burst, clock=fake.clock, sleep=fake.sleep), fake


async def test_a_full_bucket_passes_a_burst_without_waiting() -> None:
    throttle, fake = bucket(1000, burst=500)
    await throttle.consume(500)
    assert fake.now == 0.0


async def test_average_rate_is_held_over_many_chunks() -> None:
    throttle, fake = bucket(1000, burst=100)
    for _ in range(50):
        await throttle.consume(100)
    assert fake.now == pytest.approx((50 * 100 - 100) / 1000)
    assert throttle.waited_s == pytest.approx(fake.now)


async def test_a_chunk_larger_than_the_burst_is_paid_back_as_debt() -> None:
    throttle, fake = bucket(1000, burst=100)
    await throttle.consume(1100)
    assert fake.now == pytest.approx(1.0)


async def test_idle_time_refills_only_up_to_the_burst() -> None:
    throttle, fake = bucket(1000, burst=200)
    await throttle.consume(200)
    fake.now += 60.0
    await throttle.consume(700)
    assert fake.now == pytest.approx(60.5)


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="burst must be positive"):
        TokenBucket(10, burst=-1)


async def test_rejects_negative_consumption() -> None:
    throttle, _ = bucket(10)
    with pytest.raises(ValueError, match="negative"):
        await throttle.consume(-1)
