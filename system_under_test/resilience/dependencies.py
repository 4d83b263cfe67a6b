"""The policies the service applies to its three dependencies: PostgreSQL, Redis, the market-data upstream.

Both profiles get the same policies (the original system had breakers and timeouts); limits can be
changed with `ATHBENCH_PG_TIMEOUT_S`, `ATHBENCH_REDIS_TIMEOUT_S`, `ATHBENCH_UPSTREAM_TIMEOUT_S` and
`ATHBENCH_BREAKER_WAIT_S` (wait in open, all breakers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import asyncpg
import httpx
import redis.exceptions

from .breaker import BreakerConfig, CircuitBreaker
from .bulkhead import Bulkhead
from .policy import Policy
from .retry import Retry, RetryConfig
from .timeout import TimeLimiter


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


_PG_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.QueryCanceledError,
)


def postgres_failure(exc: BaseException) -> bool:
    """Connection-level and timeout errors count against the breaker; SQL errors (bad input) do not."""
    return isinstance(exc, _PG_CONNECTION_ERRORS)


def postgres_retryable(exc: BaseException) -> bool:
    """Only errors raised before a statement reached the server: connecting failed or was refused."""
    return isinstance(exc, ConnectionRefusedError | asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError)


def redis_failure(exc: BaseException) -> bool:
    return isinstance(exc, OSError | TimeoutError | redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


class UpstreamStatusError(Exception):
    """The upstream answered with an HTTP error status."""

    def __init__(self, status: int, url: str) -> None:
        self.status = status
        super().__init__(f"market-data upstream answered {status} for {url}")


def upstream_failure(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamStatusError):
        return exc.status >= 500
    return isinstance(exc, OSError | TimeoutError | httpx.TransportError)


def upstream_retryable(exc: BaseException) -> bool:
    """GETs are idempotent: retry refused connections and 502/503/504 answers, not timeouts (a slow
    upstream gets no extra load, and the caller's deadline holds)."""
    if isinstance(exc, UpstreamStatusError):
        return exc.status in (502, 503, 504)
    return isinstance(exc, httpx.ConnectError | ConnectionRefusedError)


@dataclass
class Policies:
    postgres: Policy
    redis: Policy
    upstream: Policy

    def all(self) -> list[Policy]:
        return [self.postgres, self.redis, self.upstream]

    def describe(self) -> dict[str, object]:
        return {p.name: p.describe() for p in self.all()}


def build_policies(postgres_pool_size: int = 10) -> Policies:
    """Fresh policies (new breakers) for one service instance. The PostgreSQL bulkhead admits as many calls
    as the pool has connections (a call never queues inside the pool, under the time limit and the breaker's
    clock), with a bounded queue in front: at most 4x the pool waiting, each at most half the time limit."""
    wait_s = _env_seconds("ATHBENCH_BREAKER_WAIT_S", 5.0)
    pg_timeout = _env_seconds("ATHBENCH_PG_TIMEOUT_S", 2.0)
    redis_timeout = _env_seconds("ATHBENCH_REDIS_TIMEOUT_S", 0.5)
    upstream_timeout = _env_seconds("ATHBENCH_UPSTREAM_TIMEOUT_S", 1.0)
    postgres = Policy(
        "postgres",
        breaker=CircuitBreaker(
            "postgres",
            BreakerConfig(
                window_type="count",
                window_size=50,
                minimum_calls=10,
                failure_rate_threshold=50,
                slow_call_duration_s=pg_timeout * 0.8,
                slow_call_rate_threshold=80,
                wait_in_open_s=wait_s,
                permitted_calls_in_half_open=3,
                record_failure=postgres_failure,
            ),
        ),
        bulkhead=Bulkhead(
            "postgres", max_concurrent=postgres_pool_size, max_wait_s=pg_timeout / 2, max_queue=4 * postgres_pool_size
        ),
        limiter=TimeLimiter("postgres", pg_timeout),
        retry=Retry("postgres", RetryConfig(max_attempts=2, base_delay_s=0.05, retry_on=postgres_retryable)),
    )
    redis_policy = Policy(
        "redis",
        breaker=CircuitBreaker(
            "redis",
            BreakerConfig(
                window_type="time",
                window_size=10,
                minimum_calls=5,
                failure_rate_threshold=50,
                slow_call_duration_s=redis_timeout * 0.8,
                slow_call_rate_threshold=80,
                wait_in_open_s=min(wait_s, 2.0),
                permitted_calls_in_half_open=2,
                record_failure=redis_failure,
            ),
        ),
        bulkhead=Bulkhead("redis", max_concurrent=128, max_wait_s=0.0),
        limiter=TimeLimiter("redis", redis_timeout),
    )
    upstream = Policy(
        "upstream",
        breaker=CircuitBreaker(
            "upstream",
            BreakerConfig(
                window_type="count",
                window_size=20,
                minimum_calls=10,
                failure_rate_threshold=50,
                slow_call_duration_s=upstream_timeout * 0.8,
                slow_call_rate_threshold=80,
                wait_in_open_s=wait_s,
                permitted_calls_in_half_open=3,
                record_failure=upstream_failure,
            ),
        ),
        bulkhead=Bulkhead("upstream", max_concurrent=32, max_wait_s=0.1),
        limiter=TimeLimiter("upstream", upstream_timeout),
        retry=Retry(
            "upstream", RetryConfig(max_attempts=3, base_delay_s=0.05, max_delay_s=0.2, retry_on=upstream_retryable)
        ),
    )
    return Policies(postgres=postgres, redis=redis_policy, upstream=upstream)
