"""Sliding windows of call outcomes for the circuit breaker, O(1) per recorded call.

Both keep running totals (calls, failed, slow) so a rate is read without scanning the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class Totals:
    calls: int = 0
    failed: int = 0
    slow: int = 0

    def failure_rate(self) -> float:
        """Percent of calls that failed (0..100); 0 when there are no calls."""
        return 100.0 * self.failed / self.calls if self.calls else 0.0

    def slow_rate(self) -> float:
        """Percent of calls slower than the slow-call threshold (0..100)."""
        return 100.0 * self.slow / self.calls if self.calls else 0.0


class CountWindow:
    """The last `size` calls, in a ring buffer of (failed, slow) outcomes."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"count window size must be >= 1, got {size}")
        self.size = size
        self._failed = [False] * size
        self._slow = [False] * size
        self._head = 0
        self.totals = Totals()

    def record(self, failed: bool, slow: bool, now: float = 0.0) -> Totals:
        """Add one outcome, evicting the oldest once full. `now` is ignored (same signature as TimeWindow)."""
        t = self.totals
        i = self._head
        if t.calls == self.size:
            t.failed -= self._failed[i]
            t.slow -= self._slow[i]
        else:
            t.calls += 1
        self._failed[i] = failed
        self._slow[i] = slow
        t.failed += failed
        t.slow += slow
        self._head = (i + 1) % self.size
        return t

    def snapshot(self, now: float = 0.0) -> Totals:
        return self.totals


class TimeWindow:
    """Calls of the last `size_s` seconds, aggregated in one bucket per second (a ring of epochs)."""

    def __init__(self, size_s: int) -> None:
        if size_s < 1:
            raise ValueError(f"time window size must be >= 1 s, got {size_s}")
        self.size = size_s
        self._calls = [0] * size_s
        self._failed = [0] * size_s
        self._slow = [0] * size_s
        self._latest = -1
        self.totals = Totals()

    def _advance(self, now: float) -> int:
        """Expire buckets older than the window; at most `size` buckets touched per call."""
        second = math.floor(now)
        if second <= self._latest:
            return self._latest
        start = max(self._latest + 1, second - self.size + 1)
        t = self.totals
        for s in range(start, second + 1):
            i = s % self.size
            t.calls -= self._calls[i]
            t.failed -= self._failed[i]
            t.slow -= self._slow[i]
            self._calls[i] = self._failed[i] = self._slow[i] = 0
        self._latest = second
        return second

    def record(self, failed: bool, slow: bool, now: float) -> Totals:
        second = self._advance(now)
        i = second % self.size
        self._calls[i] += 1
        self._failed[i] += failed
        self._slow[i] += slow
        t = self.totals
        t.calls += 1
        t.failed += failed
        t.slow += slow
        return t

    def snapshot(self, now: float) -> Totals:
        self._advance(now)
        return self.totals
