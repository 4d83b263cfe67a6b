"""A policy wraps every call to one dependency: Retry( Bulkhead( CircuitBreaker( TimeLimiter( call )))).

The bulkhead is outside the time limiter, so the limit applies to the call itself and the bounded bulkhead
wait comes on top; and outside the breaker, so the breaker measures the dependency (its failures, its slow
calls), not the service's own queueing for a slot. A rejected call (breaker open, bulkhead full) is not
retried and a full bulkhead does not count against the breaker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .breaker import BreakerOpen, CircuitBreaker
from .bulkhead import Bulkhead, BulkheadFull
from .retry import Retry
from .timeout import CallTimeout, TimeLimiter

T = TypeVar("T")

REJECTIONS = (BreakerOpen, BulkheadFull)


@dataclass
class Policy:
    """The resilience wrapping of one dependency; any part may be omitted."""

    name: str
    breaker: CircuitBreaker | None = None
    bulkhead: Bulkhead | None = None
    limiter: TimeLimiter | None = None
    retry: Retry | None = None

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` through the policy's retry, breaker, bulkhead and time limit."""
        if self.retry is not None:
            return await self.retry.call(lambda: self._attempt(fn))
        return await self._attempt(fn)

    async def _attempt(self, fn: Callable[[], Awaitable[T]]) -> T:
        inner = fn
        if self.limiter is not None:
            limiter = self.limiter
            inner = lambda: limiter.call(fn)  # noqa: E731
        if self.breaker is not None:
            breaker, limited = self.breaker, inner
            inner = lambda: breaker.call(limited)  # noqa: E731
        if self.bulkhead is not None:
            return await self.bulkhead.call(inner)
        return await inner()

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name}
        if self.breaker is not None:
            out["breaker"] = self.breaker.describe()
        if self.bulkhead is not None:
            out["bulkhead"] = {"max_concurrent": self.bulkhead.max_concurrent, "available": self.bulkhead.available}
        if self.limiter is not None:
            out["timeout_s"] = self.limiter.limit_s
        return out


def unavailable_reason(exc: BaseException) -> str | None:
    """A short reason when `exc` means 'dependency unavailable' (answer 503), else None."""
    if isinstance(exc, BreakerOpen):
        return f"{exc.name} circuit open"
    if isinstance(exc, BulkheadFull):
        return f"{exc.name} overloaded"
    if isinstance(exc, CallTimeout):
        return f"{exc.name} timed out after {exc.limit_s:g} s"
    return None
