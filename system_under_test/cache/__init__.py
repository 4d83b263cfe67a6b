"""Caching for the service: `build_cache(settings, redis_client, pool)` picks the profile's cache.

- `baseline`: `NaiveCache`, the original plain dict with a 5-minute TTL and no eviction.
- `optimized`: `MultiLevelCache`, L1 (bounded LRU) -> L2 Redis -> L3 materialized views, with
  single-flight, XFetch early refresh, pub/sub invalidation and warming.

Usage from an endpoint::

    value = await cache.get_or_load(f"property:{pid}:assessment", load, endpoint="energy_assessment")
    await cache.invalidate_prefix(property_prefix(pid))   # after a write to property `pid`
"""

from __future__ import annotations

from typing import Any

from ..resilience import Policy, build_policies
from .base import Cache, Loader, property_prefix
from .config import CacheConfig
from .materialized import MaterializedViews
from .multilevel import MultiLevelCache
from .naive import NaiveCache


def build_cache(
    settings: Any,
    redis_client: Any,
    pool: Any = None,
    *,
    redis_policy: Policy | None = None,
    config: CacheConfig | None = None,
) -> Cache:
    """The cache for `settings.profile`. `pool` is the service's `Database` (reads and refreshes the L3
    materialized views; None: no L3); `redis_policy` defaults to a fresh `build_policies().redis`."""
    profile = getattr(settings, "profile", "optimized")
    if profile == "baseline":
        return NaiveCache()
    if profile != "optimized":
        raise ValueError(f"unknown cache profile {profile!r}: expected 'baseline' or 'optimized'")
    policy = redis_policy if redis_policy is not None else build_policies().redis
    config = config or CacheConfig.from_env()
    views = MaterializedViews(pool, config.mv_refresh_s) if pool is not None else None
    return MultiLevelCache(config, redis_client, policy, views=views)


__all__ = [
    "Cache",
    "CacheConfig",
    "Loader",
    "MaterializedViews",
    "MultiLevelCache",
    "NaiveCache",
    "build_cache",
    "property_prefix",
]
