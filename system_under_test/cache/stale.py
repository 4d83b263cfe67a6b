"""`stale-if-error` (RFC 5861): which failures of a load let the cache answer with an expired value.

When the loader of a key fails because a dependency is down or refused the call (PostgreSQL or the
market-data upstream unreachable or timing out, a breaker open, a bulkhead full), the optimized cache may
answer with the key's last value if it expired less than `ATHBENCH_STALE_IF_ERROR_S` seconds ago (the
grace; 0 disables it). Such an answer is marked (`X-Cache: STALE`, `Warning: 110 - "Response is Stale"`)
and counted (`athbench_cache_stale_served_total{endpoint}`). An invalidated value is never served stale:
an invalidation deletes it from every tier, grace included. Errors of the request itself (a 404, bad
input, a SQL error) are not dependency failures and are raised as they are.
"""

from __future__ import annotations

from ..resilience.dependencies import postgres_failure, upstream_failure
from ..resilience.policy import REJECTIONS


def dependency_failed(exc: BaseException) -> bool:
    """True when `exc` means a dependency is unavailable (the load may be answered from a stale value)."""
    return isinstance(exc, REJECTIONS) or postgres_failure(exc) or upstream_failure(exc)
