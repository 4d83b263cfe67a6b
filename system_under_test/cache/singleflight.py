"""Request coalescing: concurrent callers for the same key share one computation.

The computation runs as its own task, so one caller being cancelled (client gone, timeout) does not
cancel it for the others; each caller awaits it through `asyncio.shield(task)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    """At most one in-flight computation per key."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    def in_flight(self, key: str) -> bool:
        return key in self._inflight

    def start(self, key: str, compute: Callable[[], Awaitable[T]]) -> tuple[asyncio.Task[T], bool]:
        """The task computing `key` and whether this call started it (False: joined an existing one)."""
        task = self._inflight.get(key)
        if task is not None:
            return task, False
        task = asyncio.ensure_future(compute())
        self._inflight[key] = task
        task.add_done_callback(lambda t: self._forget(key, t))
        return task, True

    def forget(self, covers: Callable[[str], bool]) -> list[asyncio.Task[Any]]:
        """Detach the computations of the keys `covers` accepts (they run on for their current callers; the
        next caller starts a new one); return them."""
        keys = [key for key in self._inflight if covers(key)]
        return [self._inflight.pop(key) for key in keys]

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: errors reach the waiting callers, not the loop's logger
