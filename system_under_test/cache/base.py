"""The cache interface the API layer programs against.

Values must be JSON-compatible (dict, list, str, int, float, bool, None): the optimized cache
serializes them for Redis and sizes L1 entries by their serialized length. Callers must not mutate
a value they got from the cache (an L1 hit returns the stored object itself).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Loader = Callable[[], Awaitable[T]]


def property_prefix(property_id: int) -> str:
    """Key prefix under which every cached entry about one property lives."""
    return f"property:{property_id}:"


class Cache(ABC):
    """A read-through cache: `get_or_load` returns a cached value or computes and stores it."""

    profile: str

    @abstractmethod
    async def get_or_load(
        self,
        key: str,
        loader: Loader[T],
        *,
        endpoint: str,
        ttl_s: float | None = None,
        l3: Loader[T | None] | None = None,
    ) -> T:
        """Return the value for `key`, calling `loader` (once, however many callers miss) if absent.

        `endpoint` labels the hit/miss counters. `l3`, if given, is tried before `loader` on a miss:
        a cheap read of a precomputed aggregate (materialized view) returning None when absent.
        """

    @abstractmethod
    async def invalidate(self, key: str) -> None:
        """Drop one key from every tier (and, in the optimized cache, from every service process)."""

    @abstractmethod
    async def invalidate_prefix(self, prefix: str) -> None:
        """Drop every key starting with `prefix`, e.g. `property_prefix(42)`."""

    @abstractmethod
    async def flush(self) -> None:
        """Drop everything this cache holds."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Hits and misses per tier and per endpoint, plus tier sizes (JSON-compatible)."""

    async def start(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Start background work (invalidation listener, warming, refresh). Called at app start-up."""

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Stop background work. Called at app shutdown."""
