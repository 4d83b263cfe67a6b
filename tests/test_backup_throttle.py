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


def bucket(rate: float, burst: float | None = None) -> tuple[TokenBucket, FakeTime]:
    fake = FakeTime()
    return TokenBucket(rate, burst, clock=fake.clock), fake


def take(throttle: TokenBucket, fake: FakeTime, n: int) -> None:
    """What the copier thread does: debit, then sleep the debt off (here: move the fake clock)."""
    fake.now += throttle.debit(n)


def test_a_full_bucket_passes_a_burst_without_waiting() -> None:
    throttle, fake = bucket(1000, burst=500)
    take(throttle, fake, 500)
    assert fake.now == 0.0


def test_average_rate_is_held_over_many_chunks() -> None:
    throttle, fake = bucket(1000, burst=100)
    for _ in range(50):
        take(throttle, fake, 100)
    assert fake.now == pytest.approx((50 * 100 - 100) / 1000)
    assert throttle.waited_s == pytest.approx(fake.now)


def test_a_chunk_larger_than_the_burst_is_paid_back_as_debt() -> None:
    throttle, fake = bucket(1000, burst=100)
    take(throttle, fake, 1100)
    assert fake.now == pytest.approx(1.0)


def test_idle_time_refills_only_up_to_the_burst() -> None:
    throttle, fake = bucket(1000, burst=200)
    take(throttle, fake, 200)
    fake.now += 60.0
    take(throttle, fake, 700)
    assert fake.now == pytest.approx(60.5)


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="burst must be positive"):
        TokenBucket(10, burst=-1)


def test_rejects_negative_consumption() -> None:
    throttle, _ = bucket(10)
    with pytest.raises(ValueError, match="negative"):
        throttle.debit(-1)


def test_debit_returns_the_wait_for_a_thread_that_sleeps_itself() -> None:
    throttle, fake = bucket(1000, burst=500)
    assert throttle.debit(500) == 0.0  # the burst passes
    assert throttle.debit(250) == pytest.approx(0.25)  # in debt: a quarter second at 1000 B/s
    assert throttle.waited_s == pytest.approx(0.25)
    fake.now += 0.25  # the caller slept it off
    assert throttle.debit(100) == pytest.approx(0.1)
