"""Time limiter: cancels the call when it exceeds its limit (asyncio.timeout)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .metrics import TIMEOUTS

T = TypeVar("T")


class CallTimeout(TimeoutError):
    """The call was cancelled after running for its time limit."""

    def __init__(self, name: str, limit_s: float) -> None:
        self.name = name
        self.limit_s = limit_s
        super().__init__(f"call to {name!r} timed out after {limit_s:g} s")


class TimeLimiter:
    """`await limiter.call(fn)` runs `fn()` and cancels it after `limit_s` seconds."""

    def __init__(self, name: str, limit_s: float) -> None:
        if limit_s <= 0:
            raise ValueError(f"time limit of {name!r} must be > 0, got {limit_s}")
        self.name = name
        self.limit_s = limit_s
        self._timeouts = TIMEOUTS.labels(name)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self.limit_s):
                return await fn()
        except TimeoutError as exc:
            if isinstance(exc, CallTimeout):
                raise
            self._timeouts.inc()
            raise CallTimeout(self.name, self.limit_s) from exc
