"""Bulkhead: at most `max_concurrent` calls at once; a caller waits at most `max_wait_s` for a slot, and at
most `max_queue` callers wait (the rest are rejected at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .metrics import BULKHEAD_IN_FLIGHT, BULKHEAD_REJECTED

T = TypeVar("T")


class BulkheadFull(Exception):
    """No slot became free within the bulkhead's maximum wait."""

    def __init__(self, name: str, max_concurrent: int, max_wait_s: float) -> None:
        self.name = name
        super().__init__(
            f"bulkhead {name!r} full: {max_concurrent} calls in flight, none finished within {max_wait_s:g} s"
        )


class Bulkhead:
    """A semaphore with a bounded wait (0 = fail immediately when full)."""

    def __init__(self, name: str, max_concurrent: int, max_wait_s: float = 0.0, max_queue: int | None = None) -> None:
        if max_concurrent < 1 or max_wait_s < 0 or (max_queue is not None and max_queue < 0):
            raise ValueError(f"bulkhead {name!r}: max_concurrent must be >= 1, max_wait_s and max_queue >= 0")
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.waiting = 0
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._in_flight = BULKHEAD_IN_FLIGHT.labels(name)
        self._rejected = BULKHEAD_REJECTED.labels(name)

    @property
    def available(self) -> int:
        return self._semaphore._value

    async def acquire(self) -> None:
        if self._semaphore.locked():
            if self.max_wait_s == 0 or (self.max_queue is not None and self.waiting >= self.max_queue):
                self._reject()
            self.waiting += 1
            try:
                async with asyncio.timeout(self.max_wait_s):
                    await self._semaphore.acquire()
            except TimeoutError:
                self._reject()
            finally:
                self.waiting -= 1
        else:
            await self._semaphore.acquire()
        self._in_flight.inc()

    def release(self) -> None:
        self._in_flight.dec()
        self._semaphore.release()

    def _reject(self) -> None:
        self._rejected.inc()
        raise BulkheadFull(self.name, self.max_concurrent, self.max_wait_s)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        await self.acquire()
        try:
            return await fn()
        finally:
            self.release()
