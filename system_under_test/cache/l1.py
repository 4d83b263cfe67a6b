"""L1: an in-process LRU cache bounded by entry count and by bytes, with per-entry TTL.

An expired entry is a miss for `get` but stays (within the bounds, as LRU) for `grace_s` more seconds,
during which `get_stale` still returns it: the `stale-if-error` grace (cache/stale.py).

Sizes are estimates given by the caller (the serialized length of the value plus a fixed per-entry
overhead), not Python heap sizes: they bound memory proportionally and are cheap to compute.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENTRY_OVERHEAD_BYTES = 200


@dataclass(slots=True)
class L1Entry:
    value: Any
    size: int
    expires_at: float


class L1Cache:
    """OrderedDict LRU: `get` moves a hit to the end, `set` evicts from the front until within bounds."""

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        default_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        grace_s: float = 0.0,
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(f"L1 bounds must be positive, got max_entries={max_entries} max_bytes={max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.default_ttl_s = default_ttl_s
        self.grace_s = grace_s
        self._clock = clock
        self._data: OrderedDict[str, L1Entry] = OrderedDict()
        self.bytes = 0
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str) -> Any | None:
        """The live value for `key`, or None (an entry expired past its grace is removed)."""
        entry = self._data.get(key)
        if entry is None:
            return None
        now = self._clock()
        if entry.expires_at <= now:
            if entry.expires_at + self.grace_s <= now:
                self._remove(key)
                self.expirations += 1
            return None
        self._data.move_to_end(key)
        return entry.value

    def get_stale(self, key: str) -> Any | None:
        """The value for `key` if live or expired less than `grace_s` ago, else None."""
        entry = self._data.get(key)
        if entry is None or entry.expires_at + self.grace_s <= self._clock():
            return None
        return entry.value

    def set(self, key: str, value: Any, size: int, ttl_s: float | None = None) -> bool:
        """Store `value` (estimated `size` bytes); False if it alone exceeds the byte bound."""
        size += ENTRY_OVERHEAD_BYTES + len(key)
        if key in self._data:
            self._remove(key)
        if size > self.max_bytes:
            return False
        ttl = self.default_ttl_s if ttl_s is None else ttl_s
        self._data[key] = L1Entry(value, size, self._clock() + ttl)
        self.bytes += size
        while len(self._data) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._data))
            self._remove(oldest)
            self.evictions += 1
        return True

    def delete(self, key: str) -> bool:
        if key in self._data:
            self._remove(key)
            return True
        return False

    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with `prefix` (a scan over L1's keys); returns how many."""
        doomed = [k for k in self._data if k.startswith(prefix)]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0

    def keys(self) -> list[str]:
        """Keys from least to most recently used."""
        return list(self._data)

    def _remove(self, key: str) -> None:
        entry = self._data.pop(key)
        self.bytes -= entry.size

    def describe(self) -> dict[str, Any]:
        return {
            "entries": len(self._data),
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "ttl_s": self.default_ttl_s,
            "stale_grace_s": self.grace_s,
            "evictions": self.evictions,
            "expirations": self.expirations,
        }
