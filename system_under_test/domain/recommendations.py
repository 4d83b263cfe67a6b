"""Renovation recommendations: four measures, each with cost, annual savings, payback and new class.

Measures (applied only when they improve on what the building has):

| measure | change | cost (EUR) |
|---|---|---|
| `insulation` | walls and roof to KENAK 2010 level (`kenak2010`) | 60 per m2 of opaque wall + 40 per m2 of roof |
| `windows` | double glazing with low-e coating (`double_low_e`) | 300 per m2 of window |
| `heat_pump` | air-to-water heat pump (SCOP 3.0) replaces the heating system | 3000 + 40 per m2 of floor |
| `solar_hot_water` | solar collectors covering 70 % of hot water | 900 + 10 per m2 of floor |

Annual savings are the drop in energy cost computed by `domain.energy`; payback = cost / savings.
The package applies every applicable measure together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from system_under_test.domain import energy
from system_under_test.domain.assessment import Assessment, BuildingSpec, assess, assess_many

TARGET_INSULATION = "kenak2010"
TARGET_WINDOWS = "double_low_e"
TARGET_HEATING = "heat_pump"
TARGET_SOLAR_FRACTION = 0.70

WALL_INSULATION_EUR_M2 = 60.0
ROOF_INSULATION_EUR_M2 = 40.0
WINDOW_EUR_M2 = 300.0
HEAT_PUMP_FIXED_EUR = 3000.0
HEAT_PUMP_EUR_M2 = 40.0
SOLAR_FIXED_EUR = 900.0
SOLAR_EUR_M2 = 10.0


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One renovation measure and its effect."""

    measure: str
    description: str
    cost_eur: float
    annual_savings_eur: float
    payback_years: float
    resulting_class: str
    resulting_primary_energy_kwh_m2: float

    def as_json(self) -> dict[str, str | float]:
        """Plain dict of the fields (cheaper than `dataclasses.asdict`)."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class _Measure:
    name: str
    description: str
    applies: Callable[[BuildingSpec], bool]
    apply: Callable[[BuildingSpec], BuildingSpec]
    cost: Callable[[BuildingSpec], float]


def _level(labels: tuple[str, ...], value: str) -> int:
    return labels.index(value)


def _insulation_cost(spec: BuildingSpec) -> float:
    geo = energy.geometry(spec.area_m2, spec.floors)
    return float(WALL_INSULATION_EUR_M2 * geo.opaque_wall_m2 + ROOF_INSULATION_EUR_M2 * geo.roof_m2)


def _windows_cost(spec: BuildingSpec) -> float:
    return float(WINDOW_EUR_M2 * energy.geometry(spec.area_m2, spec.floors).window_m2)


MEASURES: tuple[_Measure, ...] = (
    _Measure(
        "insulation",
        "Insulate walls and roof to the KENAK 2010 level",
        lambda s: _level(energy.INSULATION_LEVELS, s.insulation) < _level(energy.INSULATION_LEVELS, TARGET_INSULATION),
        lambda s: s.with_changes(insulation=TARGET_INSULATION),
        _insulation_cost,
    ),
    _Measure(
        "windows",
        "Replace windows with low-e double glazing",
        lambda s: _level(energy.WINDOW_TYPES, s.windows) < _level(energy.WINDOW_TYPES, TARGET_WINDOWS),
        lambda s: s.with_changes(windows=TARGET_WINDOWS),
        _windows_cost,
    ),
    _Measure(
        "heat_pump",
        "Replace the heating system with an air-to-water heat pump",
        lambda s: s.heating_system != TARGET_HEATING,
        lambda s: s.with_changes(heating_system=TARGET_HEATING),
        lambda s: HEAT_PUMP_FIXED_EUR + HEAT_PUMP_EUR_M2 * s.area_m2,
    ),
    _Measure(
        "solar_hot_water",
        "Install solar collectors covering 70 % of hot water",
        lambda s: s.solar_fraction < TARGET_SOLAR_FRACTION,
        lambda s: s.with_changes(solar_fraction=TARGET_SOLAR_FRACTION),
        lambda s: SOLAR_FIXED_EUR + SOLAR_EUR_M2 * s.area_m2,
    ),
)


def _recommendation(name: str, description: str, cost: float, before: Assessment, after: Assessment) -> Recommendation:
    savings = before.annual_cost_eur - after.annual_cost_eur
    return Recommendation(
        measure=name,
        description=description,
        cost_eur=round(cost, 2),
        annual_savings_eur=round(savings, 2),
        payback_years=round(cost / savings, 1),
        resulting_class=after.energy_class,
        resulting_primary_energy_kwh_m2=round(after.primary_energy_kwh_m2, 2),
    )


def recommend(spec: BuildingSpec, current: Assessment | None = None) -> list[Recommendation]:
    """Each applicable measure that saves money, cheapest payback first."""
    before = current or assess(spec)
    applicable = [m for m in MEASURES if m.applies(spec)]
    costs = [m.cost(spec) for m in applicable]
    return _ranked(before, applicable, costs, assess_many([m.apply(spec) for m in applicable]))


def package(spec: BuildingSpec, current: Assessment | None = None) -> Recommendation | None:
    """Every applicable measure at once; None when nothing applies or nothing is saved."""
    before = current or assess(spec)
    applicable = [m for m in MEASURES if m.applies(spec)]
    costs = [m.cost(spec) for m in applicable]
    return _package(before, applicable, costs, assess(_renovated(spec, applicable)))


def options(spec: BuildingSpec) -> tuple[Assessment, list[Recommendation], Recommendation | None]:
    """The building's assessment, `recommend` and `package` of it, from one vectorized run of the energy
    model over the building and all its variants (about a third of the cost of assessing them one by one)."""
    applicable = [m for m in MEASURES if m.applies(spec)]
    variants = [spec, *(m.apply(spec) for m in applicable), _renovated(spec, applicable)]
    before, *singles, after = assess_many(variants)
    costs = [m.cost(spec) for m in applicable]
    return before, _ranked(before, applicable, costs, singles), _package(before, applicable, costs, after)


def _renovated(spec: BuildingSpec, applicable: list[_Measure]) -> BuildingSpec:
    for m in applicable:
        spec = m.apply(spec)
    return spec


def _ranked(
    before: Assessment, applicable: list[_Measure], costs: list[float], afters: list[Assessment]
) -> list[Recommendation]:
    result = [
        _recommendation(m.name, m.description, cost, before, after)
        for m, cost, after in zip(applicable, costs, afters, strict=True)
        if after.annual_cost_eur < before.annual_cost_eur
    ]
    return sorted(result, key=lambda r: r.payback_years)


def _package(
    before: Assessment, applicable: list[_Measure], costs: list[float], after: Assessment
) -> Recommendation | None:
    if not applicable or after.annual_cost_eur >= before.annual_cost_eur:
        return None
    cost = sum(costs)
    names = "+".join(m.name for m in applicable)
    return _recommendation("package", f"All measures together ({names})", cost, before, after)


def package_annual_savings(
    area_m2: ArrayLike,
    floors: ArrayLike,
    year_built: ArrayLike,
    insulation: ArrayLike,
    windows: ArrayLike,
    heating: ArrayLike,
    hot_water: ArrayLike,
    solar_fraction: ArrayLike,
    zone: ArrayLike,
    current_cost_eur: ArrayLike,
) -> NDArray[np.float64]:
    """Vectorised annual savings (EUR) of the package, for many buildings given as codes."""
    renovated = energy.evaluate(
        area_m2,
        floors,
        year_built,
        np.maximum(insulation, energy.INSULATION_LEVELS.index(TARGET_INSULATION)),
        np.maximum(windows, energy.WINDOW_TYPES.index(TARGET_WINDOWS)),
        np.full_like(np.asarray(heating), energy.HEATING_SYSTEMS.index(TARGET_HEATING)),
        hot_water,
        np.maximum(solar_fraction, TARGET_SOLAR_FRACTION),
        zone,
    )
    return np.maximum(np.asarray(current_cost_eur) - renovated.annual_cost_eur, 0.0)
