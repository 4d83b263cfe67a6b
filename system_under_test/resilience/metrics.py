"""Prometheus metrics of the resilience primitives (default registry, one set per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BREAKER_STATE = Gauge(  # one breaker per worker: each worker's state, labelled by pid, with several workers
    "athbench_breaker_state",
    "Circuit breaker state: 0 closed, 1 open, 2 half-open",
    ["name"],
    multiprocess_mode="liveall",
)
BREAKER_TRANSITIONS = Counter(
    "athbench_breaker_transitions_total", "Circuit breaker state changes", ["name", "from_state", "to_state"]
)
BREAKER_CALLS = Counter(
    "athbench_breaker_calls_total",
    "Calls through a circuit breaker by outcome (success, failure, slow_success, slow_failure, not_permitted, ignored)",
    ["name", "outcome"],
)
BULKHEAD_REJECTED = Counter("athbench_bulkhead_rejected_total", "Calls rejected by a full bulkhead", ["name"])
BULKHEAD_IN_FLIGHT = Gauge(
    "athbench_bulkhead_in_flight", "Calls holding a bulkhead permit", ["name"], multiprocess_mode="livesum"
)
RETRY_ATTEMPTS = Counter(
    "athbench_retry_attempts_total", "Retries after a failed attempt (first attempts not counted)", ["name"]
)
TIMEOUTS = Counter("athbench_timeouts_total", "Calls cancelled by a time limiter", ["name"])
