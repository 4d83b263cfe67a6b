"""L1 cache (`system_under_test.cache.l1.L1Cache`): get hit, get miss, set (with eviction)."""

from __future__ import annotations

from benchmarks import skip_if_missing

try:
    from system_under_test.cache.l1 import L1Cache

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc

ENTRIES = 10_000
VALUE = {"energy_class": "C", "primary_energy_kwh_m2": 182.4, "annual_energy_cost_eur": 1432.5}


class L1CacheSuite:
    """A full L1 (10,000 entries): every `set` of a new key evicts the least recently used one."""

    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.cache = L1Cache(max_entries=ENTRIES, max_bytes=64 << 20, default_ttl_s=3600.0)
        for i in range(ENTRIES):
            self.cache.set(f"property:{i}:energy-assessment", VALUE, 120)
        self.next_key = ENTRIES

    def time_get_hit(self) -> None:
        self.cache.get("property:4321:energy-assessment")

    def time_get_miss(self) -> None:
        self.cache.get("property:absent:energy-assessment")

    def time_set_evicting(self) -> None:
        self.next_key += 1
        self.cache.set(f"property:{self.next_key}:energy-assessment", VALUE, 120)
