"""A token bucket limiting bytes per second, for the worker thread that streams a backup.

`debit(n)` takes `n` tokens at once and returns how long the caller must wait for the debt to be paid
back at `rate` (0 when not in debt); the caller sleeps it off itself, in its own thread, so throttling
costs the event loop nothing. Taking first and waiting after lets a single chunk exceed the burst size
(a 1 MiB chunk through a 256 KiB bucket) while several streams sharing one bucket still get `rate` in
total. It is thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` bytes per second on average, bursts up to `burst` bytes (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"token bucket rate must be positive bytes/s, got {rate}")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        if self.burst <= 0:
            raise ValueError(f"token bucket burst must be positive bytes, got {burst}")
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()
        self.waited_s = 0.0
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def debit(self, n: int) -> float:
        """Take `n` bytes' worth of tokens; return the seconds the caller must wait (0 when not in debt)."""
        if n < 0:
            raise ValueError(f"cannot consume a negative number of bytes ({n})")
        with self._lock:
            self._refill()
            self._tokens -= n
            if self._tokens >= 0:
                return 0.0
            delay = -self._tokens / self.rate
            self.waited_s += delay
            return delay
