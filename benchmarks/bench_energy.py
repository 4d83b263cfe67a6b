"""The energy assessment computed in-process (`system_under_test.domain`): one building, and 10,000 vectorised."""

from __future__ import annotations

import numpy as np

from benchmarks import skip_if_missing

try:
    from system_under_test.domain import energy
    from system_under_test.domain.assessment import BuildingSpec, assess
    from system_under_test.domain.recommendations import package, recommend

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc

# An old, uninsulated house (the fields of the API's building body).
BUILDING = {
    "area_m2": 100.0,
    "floors": 1,
    "year_built": 1975,
    "insulation": "none",
    "windows": "single",
    "heating_system": "oil_boiler",
    "hot_water": "electric",
    "solar_fraction": 0.0,
    "climate_zone": "B",
}
BATCH = 10_000


class EnergySuite:
    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.building = BuildingSpec(**BUILDING)
        rng = np.random.default_rng(0)
        self.batch = {
            "area_m2": rng.uniform(40, 250, BATCH),
            "floors": rng.integers(1, 4, BATCH),
            "year_built": rng.integers(1950, 2024, BATCH),
            "insulation": rng.integers(0, len(energy.INSULATION_LEVELS), BATCH),
            "windows": rng.integers(0, len(energy.WINDOW_TYPES), BATCH),
            "heating": rng.integers(0, len(energy.HEATING_SYSTEMS), BATCH),
            "hot_water": rng.integers(0, len(energy.HOT_WATER_SYSTEMS), BATCH),
            "solar_fraction": rng.uniform(0, 0.6, BATCH),
            "zone": rng.integers(0, len(energy.CLIMATE_ZONES), BATCH),
        }

    def time_assess_one_building(self) -> None:
        assess(self.building)

    def time_assess_with_recommendations(self) -> None:
        current = assess(self.building)
        recommend(self.building, current)
        package(self.building, current)

    def time_evaluate_10k_vectorised(self) -> None:
        energy.evaluate(**self.batch)
