"""Retry: exponential backoff with full jitter, bounded attempts, only retryable errors (fake sleep)."""

from __future__ import annotations

import pytest

from system_under_test.resilience import Retry, RetryConfig


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def flaky(failures: int, exc: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    async def fn() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise exc
        return "ok"

    return calls, fn


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionRefusedError)


async def test_backoff_caps_grow_exponentially_and_jitter_scales_them() -> None:
    sleep = FakeSleep()
    cfg = RetryConfig(max_attempts=5, base_delay_s=0.1, multiplier=2.0, max_delay_s=0.5, retry_on=retryable)
    retry = Retry("t", cfg, sleep=sleep, rand=lambda: 1.0)
    calls, fn = flaky(4, ConnectionRefusedError())
    assert await retry.call(fn) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 5
    assert sleep.delays == pytest.approx([0.1, 0.2, 0.4, 0.5])  # capped at max_delay_s


async def test_full_jitter_draws_between_zero_and_the_cap() -> None:
    sleep = FakeSleep()
    draws = iter([0.0, 0.25])
    cfg = RetryConfig(max_attempts=3, base_delay_s=0.2, multiplier=2.0, max_delay_s=5.0, retry_on=retryable)
    retry = Retry("t", cfg, sleep=sleep, rand=lambda: next(draws))
    _, fn = flaky(2, ConnectionRefusedError())
    await retry.call(fn)  # type: ignore[arg-type]
    assert sleep.delays == pytest.approx([0.0, 0.1])


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    sleep = FakeSleep()
    retry = Retry("t", RetryConfig(max_attempts=3, retry_on=retryable), sleep=sleep)
    calls, fn = flaky(10, ConnectionRefusedError("still down"))
    with pytest.raises(ConnectionRefusedError, match="still down"):
        await retry.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 3
    assert len(sleep.delays) == 2


async def test_errors_not_safe_to_retry_are_raised_at_once() -> None:
    sleep = FakeSleep()
    retry = Retry("t", RetryConfig(max_attempts=5, retry_on=retryable), sleep=sleep)
    calls, fn = flaky(1, TimeoutError("slow"))
    with pytest.raises(TimeoutError):
        await retry.call(fn)  # type: ignore[arg-type]
    assert len(calls) == 1
    assert sleep.delays == []


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryConfig(max_attempts=0)
    with pytest.raises(ValueError, match="multiplier"):
        RetryConfig(multiplier=0.5)
