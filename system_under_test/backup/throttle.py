"""An asyncio token bucket limiting bytes per second.

`consume(n)` takes `n` tokens at once and, when that leaves the bucket in debt, sleeps until the debt is
paid back at `rate`. Taking first and sleeping after lets a single request exceed the burst size (a 1 MiB
chunk through a 256 KiB bucket) while several consumers sharing one bucket still get `rate` in total.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """`rate` bytes per second on average, bursts up to `burst` bytes (default: one second's worth)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"token bucket rate must be positive bytes/s, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        if self.burst <= 0:
            raise ValueError(f"token bucket burst must be positive bytes, got {burst}")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def consume(self, n: int) -> None:
        """Take `n` bytes' worth of tokens, sleeping as long as the bucket is in debt."""
        if n < 0:
            raise ValueError(f"cannot consume a negative number of bytes ({n})")
        self._refill()
        self._tokens -= n
        if self._tokens < 0:
            delay = -self._tokens / self.rate
            self.waited_s += delay
            await self._sleep(delay)
