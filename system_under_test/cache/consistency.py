"""Read-your-writes helpers of the cache: which keys were written recently, and a context flag that sends
a loader's reads to the primary.

`RecentWrites` remembers, for `window_s`, every key and prefix this process invalidated (its own writes
and other processes' ones received over pub/sub). A miss on such a key is loaded from the primary (not
the lagging replica) and skips L3 (a materialized view may predate the write): `Database.read` consults
`READ_PRIMARY`, which the cache sets around that load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar

#: True while a cache load for a recently written key runs: `Database.read` then returns the primary.
READ_PRIMARY: ContextVar[bool] = ContextVar("athbench_read_primary", default=False)


def key_matches(key: str, target: str, is_prefix: bool) -> bool:
    """Whether an invalidation of `target` (a key, or a prefix) covers `key`."""
    return key.startswith(target) if is_prefix else key == target


def tombstone_scopes(key: str) -> list[str]:
    """Every invalidation target that covers `key`: the flush (""), each prefix ending at a `:`, the key."""
    scopes = [""]
    scopes.extend(key[: i + 1] for i, c in enumerate(key) if c == ":")
    if key not in scopes:
        scopes.append(key)
    return scopes


class RecentWrites:
    """Invalidation targets of the last `window_s` seconds, with the monotonic time they happened."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._targets: dict[tuple[str, bool], float] = {}

    def record(self, target: str, is_prefix: bool) -> None:
        now = self._clock()
        self._targets.pop((target, is_prefix), None)
        self._targets[(target, is_prefix)] = now  # insertion order == time order
        horizon = now - self.window_s
        for item, at in list(self._targets.items()):
            if at >= horizon:
                break
            del self._targets[item]

    def last_write(self, key: str) -> float | None:
        """When `key` was last invalidated within the window (monotonic seconds), else None."""
        horizon = self._clock() - self.window_s
        latest: float | None = None
        for (target, is_prefix), at in self._targets.items():
            if at >= horizon and key_matches(key, target, is_prefix):
                latest = at if latest is None else max(latest, at)
        return latest

    def written_since(self, key: str, since: float) -> bool:
        last = self.last_write(key)
        return last is not None and last >= since

    def __len__(self) -> int:
        return len(self._targets)
