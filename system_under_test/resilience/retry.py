"""Retry with exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").

Attempt n (n >= 1) that fails with a retryable error is followed by a sleep drawn uniformly from
[0, min(max_delay_s, base_delay_s * multiplier ** (n - 1))], up to `max_attempts` attempts in all.
Only errors `retry_on(exc)` accepts are retried: callers pass a predicate that admits only errors
safe to repeat (idempotent reads, connection refused before the request was sent, ...). A call
rejected by a breaker or bulkhead is never retried, whatever the predicate says.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .breaker import BreakerOpen
from .bulkhead import BulkheadFull
from .metrics import RETRY_ATTEMPTS

T = TypeVar("T")


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 3
    base_delay_s: float = 0.05
    multiplier: float = 2.0
    max_delay_s: float = 1.0
    retry_on: Callable[[BaseException], bool] = field(default=lambda exc: False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.multiplier < 1:
            raise ValueError("base_delay_s and max_delay_s must be >= 0 and multiplier >= 1")

    def backoff_cap(self, attempt: int) -> float:
        """Upper bound of the sleep after failed attempt `attempt` (1-based)."""
        return min(self.max_delay_s, self.base_delay_s * self.multiplier ** (attempt - 1))


class Retry:
    """`await retry.call(fn)`; `sleep` and `rand` are injectable for tests."""

    def __init__(
        self,
        name: str,
        config: RetryConfig,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self.config = config
        self._sleep = sleep
        self._rand = rand
        self._retries = RETRY_ATTEMPTS.labels(name)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        attempt = 1
        while True:
            try:
                return await fn()
            except Exception as exc:
                if (
                    attempt >= self.config.max_attempts
                    or isinstance(exc, BreakerOpen | BulkheadFull)
                    or not self.config.retry_on(exc)
                ):
                    raise
                delay = self._rand() * self.config.backoff_cap(attempt)
            self._retries.inc()
            await self._sleep(delay)
            attempt += 1
