"""Assessment of one building described by labels (the API's view of `domain.energy`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from operator import attrgetter

from system_under_test.domain import energy


@dataclass(frozen=True, slots=True)
class BuildingSpec:
    """A building as the API and the database describe it (categorical fields are labels)."""

    area_m2: float
    floors: int
    year_built: int
    insulation: str
    windows: str
    heating_system: str
    hot_water: str
    solar_fraction: float
    climate_zone: str

    def with_changes(self, **changes: object) -> BuildingSpec:
        """A copy with some fields replaced (a renovated building); an unknown field is a TypeError."""
        values = list(_ALL_FIELDS(self))
        for name, value in changes.items():
            index = _FIELD_INDEX.get(name)
            if index is None:
                raise TypeError(f"BuildingSpec has no field {name}")
            values[index] = value
        return BuildingSpec(*values)  # about 2/3 of dataclasses.replace's cost (a request makes 8 copies)


_FIELD_INDEX = {f.name: i for i, f in enumerate(fields(BuildingSpec))}
_ALL_FIELDS = attrgetter(*_FIELD_INDEX)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Energy performance of one building."""

    heating_need_kwh: float
    hot_water_need_kwh: float
    primary_energy_kwh_m2: float
    reference_primary_energy_kwh_m2: float
    ratio: float
    energy_class: str
    annual_cost_eur: float


_CODE_TABLES: dict[str, tuple[str, ...]] = {
    "insulation": energy.INSULATION_LEVELS,
    "windows": energy.WINDOW_TYPES,
    "heating_system": energy.HEATING_SYSTEMS,
    "hot_water": energy.HOT_WATER_SYSTEMS,
    "climate_zone": energy.CLIMATE_ZONES,
}
_CODE_OF: dict[str, dict[str, int]] = {
    field: {label: i for i, label in enumerate(labels)} for field, labels in _CODE_TABLES.items()
}


def codes(spec: BuildingSpec) -> dict[str, int]:
    """Integer codes of the categorical fields; ValueError names an unknown label."""
    result = {}
    for field, code_of in _CODE_OF.items():
        value = getattr(spec, field)
        code = code_of.get(value) if isinstance(value, str) else None
        if code is None:
            raise ValueError(f"{field} must be one of {', '.join(_CODE_TABLES[field])}, got {value!r}")
        result[field] = code
    return result


def assess_many(specs: Sequence[BuildingSpec]) -> list[Assessment]:
    """Run the energy model on several buildings in one vectorized pass (the model's numpy operations cost
    about the same for a handful of buildings as for one); the same figures as `assess` on each."""
    if not specs:
        return []
    c = [codes(spec) for spec in specs]
    r = energy.evaluate(
        [spec.area_m2 for spec in specs],
        [spec.floors for spec in specs],
        [spec.year_built for spec in specs],
        [x["insulation"] for x in c],
        [x["windows"] for x in c],
        [x["heating_system"] for x in c],
        [x["hot_water"] for x in c],
        [spec.solar_fraction for spec in specs],
        [x["climate_zone"] for x in c],
    )
    columns = zip(
        r.heating_need_kwh.tolist(),
        r.hot_water_need_kwh.tolist(),
        r.primary_energy_kwh_m2.tolist(),
        r.reference_primary_energy_kwh_m2.tolist(),
        r.ratio.tolist(),
        r.class_code.tolist(),
        r.annual_cost_eur.tolist(),
        strict=True,
    )
    return [
        Assessment(
            heating_need_kwh=heat,
            hot_water_need_kwh=water,
            primary_energy_kwh_m2=primary,
            reference_primary_energy_kwh_m2=reference,
            ratio=ratio,
            energy_class=energy.ENERGY_CLASSES[code],
            annual_cost_eur=cost,
        )
        for heat, water, primary, reference, ratio, code, cost in columns
    ]


def assess(spec: BuildingSpec) -> Assessment:
    """Run the energy model on one building."""
    c = codes(spec)
    r = energy.evaluate(
        spec.area_m2,
        spec.floors,
        spec.year_built,
        c["insulation"],
        c["windows"],
        c["heating_system"],
        c["hot_water"],
        spec.solar_fraction,
        c["climate_zone"],
    )
    return Assessment(
        heating_need_kwh=float(r.heating_need_kwh),
        hot_water_need_kwh=float(r.hot_water_need_kwh),
        primary_energy_kwh_m2=float(r.primary_energy_kwh_m2),
        reference_primary_energy_kwh_m2=float(r.reference_primary_energy_kwh_m2),
        ratio=float(r.ratio),
        energy_class=energy.ENERGY_CLASSES[int(r.class_code)],
        annual_cost_eur=float(r.annual_cost_eur),
    )
