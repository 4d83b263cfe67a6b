"""`recommendations.options` (one vectorized run of the energy model over a building and its variants)
gives exactly what assessing each variant on its own gives."""

from __future__ import annotations

import random

from system_under_test.domain import energy
from system_under_test.domain.assessment import BuildingSpec, assess, assess_many
from system_under_test.domain.recommendations import MEASURES, _recommendation, options


def random_specs(n: int, seed: int = 7) -> list[BuildingSpec]:
    rng = random.Random(seed)
    return [
        BuildingSpec(
            area_m2=round(rng.uniform(25.0, 450.0), 1),
            floors=rng.randint(1, 6),
            year_built=rng.randint(1900, 2025),
            insulation=rng.choice(energy.INSULATION_LEVELS),
            windows=rng.choice(energy.WINDOW_TYPES),
            heating_system=rng.choice(energy.HEATING_SYSTEMS),
            hot_water=rng.choice(energy.HOT_WATER_SYSTEMS),
            solar_fraction=rng.choice([0.0, 0.2, 0.7, 0.8]),
            climate_zone=rng.choice(energy.CLIMATE_ZONES),
        )
        for _ in range(n)
    ]


def one_by_one(spec: BuildingSpec) -> tuple[object, object, object]:
    """The reference: every variant assessed with the scalar `assess`, measures applied as documented."""
    before = assess(spec)
    applicable = [m for m in MEASURES if m.applies(spec)]
    singles = []
    for m in applicable:
        after = assess(m.apply(spec))
        if after.annual_cost_eur < before.annual_cost_eur:
            singles.append(_recommendation(m.name, m.description, m.cost(spec), before, after))
    renovated = spec
    for m in applicable:
        renovated = m.apply(renovated)
    after = assess(renovated)
    bundle = None
    if applicable and after.annual_cost_eur < before.annual_cost_eur:
        names = "+".join(m.name for m in applicable)
        cost = sum(m.cost(spec) for m in applicable)
        bundle = _recommendation("package", f"All measures together ({names})", cost, before, after)
    return before, sorted(singles, key=lambda r: r.payback_years), bundle


def test_assess_many_equals_assess_on_each_building_exactly() -> None:
    specs = random_specs(300)
    assert assess_many(specs) == [assess(s) for s in specs]
    assert assess_many([]) == []


def test_options_equals_assessing_every_variant_on_its_own() -> None:
    specs = random_specs(500, seed=11)
    differing = [s for s in specs if options(s) != one_by_one(s)]
    assert differing == []
    assert any(options(s)[1] for s in specs)  # recommendations were produced, the comparison is not empty
