"""Hit/miss accounting per tier and per endpoint, mirrored to Prometheus.

Tiers: `l1` (in-process), `l2` (Redis), `l3` (materialized views), and `origin` (the loader ran:
result `load`, or a concurrent caller shared another's load: result `coalesced`).
Results per tier: `hit`, `miss`, `error` (the tier could not be asked, e.g. Redis down).
A load that failed on a dependency and was answered with an expired value (`stale-if-error`,
cache/stale.py) is counted apart, per endpoint.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prometheus_client import Counter

from .status import note

CACHE_REQUESTS = Counter(
    "athbench_cache_requests_total",
    "Cache lookups by tier, endpoint and result",
    ["tier", "endpoint", "result"],
)
CACHE_EARLY_REFRESHES = Counter(
    "athbench_cache_early_refresh_total",
    "XFetch probabilistic early refreshes started, by endpoint",
    ["endpoint"],
)

CACHE_STALE_SERVED = Counter(
    "athbench_cache_stale_served_total",
    "Answers served from an expired cached value because a dependency failed (stale-if-error), by endpoint",
    ["endpoint"],
)

TIERS = ("l1", "l2", "l3", "origin")


class CacheStats:
    """Counts of (tier, endpoint, result) for one cache instance; also increments the Prometheus counter."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._children: dict[tuple[str, str, str], Any] = {}
        self._stale: dict[str, int] = defaultdict(int)

    def record(self, tier: str, endpoint: str, result: str) -> None:
        key = (tier, endpoint, result)
        self._counts[key] += 1
        note(tier, result)  # the request's X-Cache status (cache/status.py)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = CACHE_REQUESTS.labels(tier, endpoint, result)
        child.inc()

    def record_stale(self, endpoint: str) -> None:
        """One answer served stale (stale-if-error); marks the request's X-Cache as STALE."""
        self._stale[endpoint] += 1
        note("stale", "served")
        CACHE_STALE_SERVED.labels(endpoint).inc()

    def count(self, tier: str, endpoint: str | None, result: str) -> int:
        """One count; `endpoint=None` sums over endpoints."""
        if endpoint is not None:
            return self._counts.get((tier, endpoint, result), 0)
        return sum(n for (t, _, r), n in self._counts.items() if t == tier and r == result)

    def snapshot(self) -> dict[str, Any]:
        """`{"tiers": {tier: {endpoint: {hits, misses, errors, hit_ratio}}}, "overall": {...},
        "stale_served": {endpoint: n}}`."""
        tiers: dict[str, dict[str, dict[str, float | int | None]]] = {}
        endpoints = sorted({e for (_, e, _) in self._counts})
        for tier in TIERS:
            per_endpoint: dict[str, dict[str, float | int | None]] = {}
            for endpoint in [*endpoints, None]:
                if tier == "origin":
                    row: dict[str, float | int | None] = {
                        "loads": self.count(tier, endpoint, "load"),
                        "coalesced": self.count(tier, endpoint, "coalesced"),
                    }
                    if not any(row.values()):
                        continue
                else:
                    hits = self.count(tier, endpoint, "hit")
                    misses = self.count(tier, endpoint, "miss")
                    errors = self.count(tier, endpoint, "error")
                    if not (hits or misses or errors):
                        continue
                    lookups = hits + misses + errors
                    row = {"hits": hits, "misses": misses, "errors": errors, "hit_ratio": hits / lookups}
                per_endpoint[endpoint or "_all"] = row
            if per_endpoint:
                tiers[tier] = per_endpoint
        overall: dict[str, dict[str, float | int | None]] = {}
        for endpoint in [*endpoints, None]:
            requests = sum(self.count("l1", endpoint, r) for r in ("hit", "miss", "error"))
            if not requests:
                continue
            loads = self.count("origin", endpoint, "load")
            coalesced = self.count("origin", endpoint, "coalesced")
            overall[endpoint or "_all"] = {
                "requests": requests,
                "loads": loads,
                "coalesced": coalesced,
                # a read that joined another's load found no cached value: a miss, as in harness.cache_sim
                "hit_ratio": 1.0 - (loads + coalesced) / requests,
            }
        return {"tiers": tiers, "overall": overall, "stale_served": dict(self._stale)}
