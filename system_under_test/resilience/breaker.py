"""Circuit breaker with resilience4j semantics, for asyncio.

CLOSED: calls pass; outcomes go to a sliding window (count- or time-based). Once the window holds at
least `minimum_calls`, a failure rate >= `failure_rate_threshold` or a slow-call rate >=
`slow_call_rate_threshold` opens the breaker.
OPEN: calls are rejected with `BreakerOpen` until `wait_in_open_s` has passed, then the next call
moves it to HALF_OPEN.
HALF_OPEN: `permitted_calls_in_half_open` probe calls pass, others are rejected; when all probes have
finished, their failure / slow rates decide: above a threshold -> OPEN again, else CLOSED.

Exceptions count as failures when `record_failure(exc)` says so (default: every Exception); those in
`ignore_exceptions` count as neither success nor failure. Cancellation is never recorded.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .metrics import BREAKER_CALLS, BREAKER_STATE, BREAKER_TRANSITIONS
from .windows import CountWindow, TimeWindow, Totals

T = TypeVar("T")
log = logging.getLogger(__name__)


class State(enum.IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class BreakerOpen(Exception):
    """A call was not permitted: the breaker is open (or half-open with every probe slot taken)."""

    def __init__(self, name: str, state: State, retry_after_s: float) -> None:
        self.name = name
        self.state = state
        self.retry_after_s = retry_after_s
        super().__init__(f"circuit breaker {name!r} is {state.name.lower()}; retry in {retry_after_s:.1f} s")


@dataclass(frozen=True)
class BreakerConfig:
    """Defaults follow resilience4j's, except the shorter waits that suit a benchmark."""

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_s: float = 1.0
    window_type: str = "count"
    window_size: int = 100
    minimum_calls: int = 10
    permitted_calls_in_half_open: int = 5
    wait_in_open_s: float = 5.0
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    record_failure: Callable[[BaseException], bool] = field(default=lambda exc: True)

    def __post_init__(self) -> None:
        if self.window_type not in ("count", "time"):
            raise ValueError(f"window_type must be 'count' or 'time', got {self.window_type!r}")
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {value}")
        for name in ("window_size", "minimum_calls", "permitted_calls_in_half_open"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.wait_in_open_s < 0 or self.slow_call_duration_s <= 0:
            raise ValueError("wait_in_open_s must be >= 0 and slow_call_duration_s > 0")


class CircuitBreaker:
    """One breaker per dependency; `await breaker.call(fn)` or acquire/record by hand."""

    def __init__(self, name: str, config: BreakerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self.state = State.CLOSED
        self._window = self._new_window()
        self._opened_at = 0.0
        self._half_open_window = CountWindow(config.permitted_calls_in_half_open)
        self._half_open_issued = 0
        self._state_gauge = BREAKER_STATE.labels(name)
        self._state_gauge.set(State.CLOSED)
        self._outcomes = {
            o: BREAKER_CALLS.labels(name, o)
            for o in ("success", "failure", "slow_success", "slow_failure", "not_permitted", "ignored")
        }

    def _new_window(self) -> CountWindow | TimeWindow:
        if self.config.window_type == "count":
            return CountWindow(self.config.window_size)
        return TimeWindow(self.config.window_size)

    # -- permission ---------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Whether a call may proceed now (in HALF_OPEN this takes one probe slot)."""
        if self.state is State.OPEN:
            if self._clock() - self._opened_at < self.config.wait_in_open_s:
                return False
            self._transition(State.HALF_OPEN)
        if self.state is State.HALF_OPEN:
            if self._half_open_issued >= self.config.permitted_calls_in_half_open:
                return False
            self._half_open_issued += 1
        return True

    def acquire(self) -> None:
        """Take permission or raise `BreakerOpen`."""
        if not self.try_acquire():
            self._outcomes["not_permitted"].inc()
            raise BreakerOpen(self.name, self.state, self.retry_after_s())

    def retry_after_s(self) -> float:
        if self.state is State.OPEN:
            return max(0.0, self.config.wait_in_open_s - (self._clock() - self._opened_at))
        return 0.0

    # -- outcomes -----------------------------------------------------------------------------
    def on_success(self, duration_s: float) -> None:
        slow = duration_s >= self.config.slow_call_duration_s
        self._outcomes["slow_success" if slow else "success"].inc()
        self._record(failed=False, slow=slow)

    def on_error(self, duration_s: float, exc: BaseException) -> None:
        if isinstance(exc, self.config.ignore_exceptions) or not self.config.record_failure(exc):
            self.on_ignored()
            return
        slow = duration_s >= self.config.slow_call_duration_s
        self._outcomes["slow_failure" if slow else "failure"].inc()
        self._record(failed=True, slow=slow)

    def on_ignored(self) -> None:
        """A permitted call whose outcome says nothing about the dependency: give back its slot."""
        self._outcomes["ignored"].inc()
        if self.state is State.HALF_OPEN and self._half_open_issued > 0:
            self._half_open_issued -= 1

    def _record(self, failed: bool, slow: bool) -> None:
        cfg = self.config
        if self.state is State.CLOSED:
            totals = self._window.record(failed, slow, self._clock())
            if totals.calls >= cfg.minimum_calls and self._exceeds(totals):
                self._transition(State.OPEN)
        elif self.state is State.HALF_OPEN:
            totals = self._half_open_window.record(failed, slow)
            if totals.calls >= cfg.permitted_calls_in_half_open:
                self._transition(State.OPEN if self._exceeds(totals) else State.CLOSED)
        # OPEN: a call permitted before the breaker opened finished late; it no longer counts.

    def _exceeds(self, totals: Totals) -> bool:
        return (
            totals.failure_rate() >= self.config.failure_rate_threshold
            or totals.slow_rate() >= self.config.slow_call_rate_threshold
        )

    def _transition(self, to: State) -> None:
        previous = self.state
        if previous is to:
            return
        self.state = to
        if to is State.OPEN:
            self._opened_at = self._clock()
        elif to is State.HALF_OPEN:
            self._half_open_window = CountWindow(self.config.permitted_calls_in_half_open)
            self._half_open_issued = 0
        else:
            self._window = self._new_window()
        self._state_gauge.set(to)
        BREAKER_TRANSITIONS.labels(self.name, previous.name.lower(), to.name.lower()).inc()
        level = logging.WARNING if to is State.OPEN else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s", self.name, previous.name, to.name)

    # -- convenience ----------------------------------------------------------------------------
    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` under the breaker."""
        self.acquire()
        start = self._clock()
        try:
            result = await fn()
        except Exception as exc:
            self.on_error(self._clock() - start, exc)
            raise
        except BaseException:
            self.on_ignored()
            raise
        self.on_success(self._clock() - start)
        return result

    def metrics(self) -> Totals:
        """Current totals of the closed-state window (a copy)."""
        t = self._window.snapshot(self._clock())
        return Totals(t.calls, t.failed, t.slow)

    def describe(self) -> dict[str, object]:
        t = self.metrics()
        return {
            "state": self.state.name.lower(),
            "calls": t.calls,
            "failure_rate": t.failure_rate(),
            "slow_call_rate": t.slow_rate(),
            "retry_after_s": self.retry_after_s(),
        }
