"""Running blocking file work in worker threads without racing the caller's cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread. When cancelled, wait for the thread to end before re-raising, so
    the caller's cleanup (closing or deleting the file the thread writes) never runs concurrently."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise
