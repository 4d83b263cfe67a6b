"""Resilience primitives (circuit breaker, retry, bulkhead, time limiter) and the service's policies."""

from .breaker import BreakerConfig, BreakerOpen, CircuitBreaker, State
from .bulkhead import Bulkhead, BulkheadFull
from .dependencies import Policies, UpstreamStatusError, build_policies
from .policy import Policy, unavailable_reason
from .retry import Retry, RetryConfig
from .timeout import CallTimeout, TimeLimiter

__all__ = [
    "BreakerConfig",
    "BreakerOpen",
    "Bulkhead",
    "BulkheadFull",
    "CallTimeout",
    "CircuitBreaker",
    "Policies",
    "Policy",
    "Retry",
    "RetryConfig",
    "State",
    "TimeLimiter",
    "UpstreamStatusError",
    "build_policies",
    "unavailable_reason",
]
