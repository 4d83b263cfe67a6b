"""Circuit breaker overhead per call (`system_under_test.resilience.breaker.CircuitBreaker`)."""

from __future__ import annotations

import asyncio

from benchmarks import skip_if_missing

try:
    from system_under_test.resilience.breaker import BreakerConfig, CircuitBreaker

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc

CALLS = 1000


async def _noop() -> None:
    return None


class BreakerOverheadSuite:
    """1,000 calls of a no-op coroutine: bare, and through `breaker.call` (the difference is the overhead)."""

    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.loop = asyncio.new_event_loop()
        self.count_window_breaker = CircuitBreaker("bench-count", BreakerConfig(window_type="count"))
        self.time_window_breaker = CircuitBreaker("bench-time", BreakerConfig(window_type="time", window_size=10))

    def teardown(self) -> None:
        if MISSING is None:  # asv tears down after a skipped setup too
            self.loop.close()

    def time_bare_calls(self) -> None:
        async def run() -> None:
            for _ in range(CALLS):
                await _noop()

        self.loop.run_until_complete(run())

    def time_calls_through_count_window_breaker(self) -> None:
        breaker = self.count_window_breaker

        async def run() -> None:
            for _ in range(CALLS):
                await breaker.call(_noop)

        self.loop.run_until_complete(run())

    def time_calls_through_time_window_breaker(self) -> None:
        breaker = self.time_window_breaker

        async def run() -> None:
            for _ in range(CALLS):
                await breaker.call(_noop)

        self.loop.run_until_complete(run())

    def time_acquire_and_record(self) -> None:
        breaker = self.count_window_breaker
        for _ in range(CALLS):
            breaker.acquire()
            breaker.on_success(0.001)
