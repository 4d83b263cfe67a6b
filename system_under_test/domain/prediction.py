"""Price model: ordinary least squares on log price, fitted with numpy on the stored properties.

log(price) = b0 + b1 log(area) + b2 log(neighbourhood base price per m2) + b3 age + b4 age^2
             + b5 floors + b6 insulation level + b7 window level + b8 energy-class code + zone dummies (B, C, D)

The 95 % interval is exp(prediction +/- 1.96 * residual standard deviation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from system_under_test.domain import energy

REFERENCE_YEAR = 2025
MIN_TRAINING_ROWS = 20
FEATURE_COLUMNS = (
    "area_m2", "base_price_per_m2", "year_built", "floors", "insulation", "windows", "energy_class",
    "climate_zone",
)  # fmt: skip


def _code(labels: tuple[str, ...], values: list[str]) -> NDArray[np.float64]:
    lookup = {label: i for i, label in enumerate(labels)}
    return np.array([lookup[v] for v in values], dtype=np.float64)


def design_matrix(rows: list[dict[str, Any]]) -> NDArray[np.float64]:
    """Feature matrix (one row per property) from dicts holding `FEATURE_COLUMNS`."""
    area = np.array([r["area_m2"] for r in rows], dtype=np.float64)
    base = np.array([r["base_price_per_m2"] for r in rows], dtype=np.float64)
    age = REFERENCE_YEAR - np.array([r["year_built"] for r in rows], dtype=np.float64)
    zone = _code(energy.CLIMATE_ZONES, [r["climate_zone"] for r in rows])
    return np.column_stack(
        [
            np.ones(len(rows)),
            np.log(area),
            np.log(base),
            age / 100.0,
            (age / 100.0) ** 2,
            np.array([r["floors"] for r in rows], dtype=np.float64),
            _code(energy.INSULATION_LEVELS, [r["insulation"] for r in rows]),
            _code(energy.WINDOW_TYPES, [r["windows"] for r in rows]),
            _code(energy.ENERGY_CLASSES, [r["energy_class"] for r in rows]),
            zone == 1,
            zone == 2,
            zone == 3,
        ]
    )


@dataclass(frozen=True, slots=True)
class PriceModel:
    """Fitted coefficients and fit quality."""

    coefficients: NDArray[np.float64]
    residual_std: float
    r2: float
    trained_on: int

    @classmethod
    def fit(cls, rows: list[dict[str, Any]]) -> PriceModel:
        """Least squares on log(price_eur); needs at least MIN_TRAINING_ROWS rows."""
        if len(rows) < MIN_TRAINING_ROWS:
            raise ValueError(f"need at least {MIN_TRAINING_ROWS} properties to fit the price model, got {len(rows)}")
        x = design_matrix(rows)
        y = np.log(np.array([r["price_eur"] for r in rows], dtype=np.float64))
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        residuals = y - x @ coefficients
        dof = max(len(y) - x.shape[1], 1)
        total = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else 0.0
        return cls(coefficients, float(np.sqrt(np.sum(residuals**2) / dof)), r2, len(rows))

    def predict(self, row: dict[str, Any]) -> tuple[float, float, float]:
        """Predicted price and its 95 % interval (low, high) for one property."""
        mu = float(design_matrix([row])[0] @ self.coefficients)
        spread = 1.96 * self.residual_std
        return float(np.exp(mu)), float(np.exp(mu - spread)), float(np.exp(mu + spread))
