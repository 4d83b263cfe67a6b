"""Cache tuning, read from environment variables (all optional)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_number(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class CacheConfig:
    """Sizes and lifetimes of the optimized cache's tiers."""

    l1_max_entries: int = 20_000
    l1_max_bytes: int = 32 * 1024 * 1024
    l1_ttl_s: float = 60.0
    l2_ttl_s: float = 300.0
    xfetch_beta: float = 1.0
    warm_keys: int = 200
    hot_key_flush_s: float = 10.0
    mv_refresh_s: float = 60.0
    stale_if_error_s: float = 60.0  # RFC 5861 grace after expiry when a dependency fails (cache/stale.py)
    l2_min_hit_ratio: float = 0.05  # below it (last 1,000 L2 reads) most L1 misses skip L2 (cache/bypass.py)

    @classmethod
    def from_env(cls) -> CacheConfig:
        """`ATHBENCH_L1_MAX_ENTRIES`, `ATHBENCH_L1_MAX_BYTES`, `ATHBENCH_L1_TTL_S`, `ATHBENCH_L2_TTL_S`,
        `ATHBENCH_XFETCH_BETA`, `ATHBENCH_CACHE_WARM_KEYS`, `ATHBENCH_MV_REFRESH_S`, `ATHBENCH_STALE_IF_ERROR_S`,
        `ATHBENCH_L2_MIN_HIT_RATIO`."""
        d = cls()
        return cls(
            l1_max_entries=int(_env_number("ATHBENCH_L1_MAX_ENTRIES", d.l1_max_entries, minimum=1)),
            l1_max_bytes=int(_env_number("ATHBENCH_L1_MAX_BYTES", d.l1_max_bytes, minimum=1)),
            l1_ttl_s=_env_number("ATHBENCH_L1_TTL_S", d.l1_ttl_s, minimum=0.001),
            l2_ttl_s=_env_number("ATHBENCH_L2_TTL_S", d.l2_ttl_s, minimum=0.001),
            xfetch_beta=_env_number("ATHBENCH_XFETCH_BETA", d.xfetch_beta),
            warm_keys=int(_env_number("ATHBENCH_CACHE_WARM_KEYS", d.warm_keys)),
            hot_key_flush_s=d.hot_key_flush_s,
            mv_refresh_s=_env_number("ATHBENCH_MV_REFRESH_S", d.mv_refresh_s, minimum=1.0),
            stale_if_error_s=_env_number("ATHBENCH_STALE_IF_ERROR_S", d.stale_if_error_s),
            l2_min_hit_ratio=min(1.0, _env_number("ATHBENCH_L2_MIN_HIT_RATIO", d.l2_min_hit_ratio)),
        )
