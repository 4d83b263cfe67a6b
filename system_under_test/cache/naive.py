"""The original assessment's cache: a plain dict with a 5-minute TTL, no eviction, no Redis tier.

Kept on purpose for the `baseline` profile (`energy_dashboard.py`: `cache_duration =
timedelta(minutes=5)`, `_cached_data: Dict[str, Any] = {}`). Expired entries are only replaced when
read again, never removed, so the dict grows with every distinct key; concurrent misses each compute;
invalidation reaches this process only (other processes serve their copy until it expires).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .base import Cache, Loader, T
from .stats import CacheStats

NAIVE_TTL_S = 300.0


class NaiveCache(Cache):
    """Unbounded dict of key -> (stored_at, value); counts every lookup as tier `l1`."""

    profile = "baseline"

    def __init__(self, ttl_s: float = NAIVE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._data: dict[str, tuple[float, Any]] = {}
        self._stats = CacheStats()

    async def get_or_load(
        self,
        key: str,
        loader: Loader[T],
        *,
        endpoint: str,
        ttl_s: float | None = None,
        l3: Loader[T | None] | None = None,
    ) -> T:
        """Dict lookup; on a miss or an expired entry call `loader` (`ttl_s` and `l3` are ignored)."""
        entry = self._data.get(key)
        if entry is not None and self._clock() - entry[0] < self._ttl_s:
            self._stats.record("l1", endpoint, "hit")
            return entry[1]
        self._stats.record("l1", endpoint, "miss")
        self._stats.record("origin", endpoint, "load")
        value = await loader()
        self._data[key] = (self._clock(), value)
        return value

    async def invalidate(self, key: str) -> None:
        self._data.pop(key, None)

    async def invalidate_prefix(self, prefix: str) -> None:
        for key in [k for k in self._data if k.startswith(prefix)]:
            del self._data[key]

    async def flush(self) -> None:
        self._data.clear()

    def stats(self) -> dict[str, Any]:
        snapshot = self._stats.snapshot()
        snapshot["profile"] = self.profile
        snapshot["sizes"] = {"l1": {"entries": len(self._data), "max_entries": None, "ttl_s": self._ttl_s}}
        return snapshot
