"""The energy model against hand-computed cases (the arithmetic is written out in each test)."""

from __future__ import annotations

import pytest

from system_under_test.data.generator import generate_properties
from system_under_test.domain import energy
from system_under_test.domain.assessment import BuildingSpec, assess
from system_under_test.domain.recommendations import package, package_annual_savings, recommend

OLD_HOUSE = BuildingSpec(
    area_m2=100,
    floors=1,
    year_built=1975,
    insulation="none",
    windows="single",
    heating_system="oil_boiler",
    hot_water="electric",
    solar_fraction=0.0,
    climate_zone="B",
)
NEW_HOUSE = BuildingSpec(
    area_m2=200,
    floors=2,
    year_built=2015,
    insulation="kenak2010",
    windows="double_low_e",
    heating_system="heat_pump",
    hot_water="heat_pump",
    solar_fraction=0.6,
    climate_zone="C",
)


def test_old_uninsulated_house_in_zone_b_is_class_g() -> None:
    # Geometry: footprint 100 m2 -> side 10 m, perimeter 40 m; gross wall 40 * 3 m * 1 floor = 120 m2;
    # windows 0.15 * 100 = 15 m2; opaque wall 105 m2; roof = ground floor = 100 m2; volume 300 m3.
    # H_tr = 1.70*105 + 5.0*15 + 2.80*100 + 0.5*1.20*100 = 178.5 + 75 + 280 + 60 = 593.5 W/K
    # built 1975 (< 1980): 1.0 ach -> H_ve = 0.34 * 1.0 * 300 = 102 W/K; H = 695.5 W/K
    # Q_heat = 695.5 * 1200 HDD * 24 / 1000 = 20030.4 kWh
    # oil boiler 0.80: 25038.0 kWh oil -> primary 25038.0 * 1.1 = 27541.8, cost 25038.0 * 0.11 = 2754.18
    # hot water 20 * 100 = 2000 kWh, electric 0.95: 2105.263 kWh -> primary * 2.9 = 6105.263, cost * 0.20 = 421.053
    # EP = (27541.8 + 6105.263) / 100 = 336.4706 kWh/m2
    # Reference (zone B): H_tr = 0.50*105 + 3.00*15 + 0.45*100 + 0.5*0.90*100 = 187.5; H_ve = 0.34*0.5*300 = 51
    # Q_ref = 238.5 * 1200 * 24 / 1000 = 6868.8 -> / 0.85 * 1.1 = 8889.035; water 2000 * 0.4 / 0.95 * 2.9 = 2442.105
    # EP_ref = (8889.035 + 2442.105) / 100 = 113.3114; R = 336.4706 / 113.3114 = 2.9694 > 2.73 -> G
    a = assess(OLD_HOUSE)
    assert a.heating_need_kwh == pytest.approx(20030.4)
    assert a.hot_water_need_kwh == pytest.approx(2000.0)
    assert a.primary_energy_kwh_m2 == pytest.approx(336.4706, abs=1e-3)
    assert a.reference_primary_energy_kwh_m2 == pytest.approx(113.3114, abs=1e-3)
    assert a.ratio == pytest.approx(2.9694, abs=1e-4)
    assert a.energy_class == "G"
    assert a.annual_cost_eur == pytest.approx(2754.18 + 421.053, abs=0.01)


def test_new_two_storey_heat_pump_house_in_zone_c_is_class_b_plus() -> None:
    # Geometry: footprint 200 / 2 = 100 m2, perimeter 40 m; gross wall 40 * 3 * 2 = 240 m2; windows 30 m2;
    # opaque 210 m2; roof = ground = 100 m2; volume 600 m3.
    # H_tr = 0.50*210 + 2.0*30 + 0.45*100 + 0.5*0.70*100 = 105 + 60 + 45 + 35 = 245 W/K
    # built 2015: 0.5 ach -> H_ve = 0.34 * 0.5 * 600 = 102; H = 347 W/K
    # Q_heat = 347 * 1800 * 24 / 1000 = 14990.4 kWh; heat pump COP 3: 4996.8 kWh electricity
    #   -> primary 14490.72, cost 999.36
    # hot water 4000 kWh, 60 % solar, heat pump 2.5: 4000 * 0.4 / 2.5 = 640 kWh -> primary 1856, cost 128
    # EP = (14490.72 + 1856) / 200 = 81.7336
    # Reference zone C: H_tr = 0.45*210 + 2.80*30 + 0.40*100 + 0.5*0.75*100 = 256; + 102 = 358 W/K
    # Q_ref = 358 * 1800 * 24 / 1000 = 15465.6 -> / 0.85 * 1.1 = 20014.306; water 4000*0.4/0.95*2.9 = 4884.211
    # EP_ref = (20014.306 + 4884.211) / 200 = 124.4926; R = 81.7336 / 124.4926 = 0.6565 -> B+ (0.50 < R <= 0.75)
    a = assess(NEW_HOUSE)
    assert a.heating_need_kwh == pytest.approx(14990.4)
    assert a.primary_energy_kwh_m2 == pytest.approx(81.7336, abs=1e-3)
    assert a.reference_primary_energy_kwh_m2 == pytest.approx(124.4926, abs=1e-3)
    assert a.ratio == pytest.approx(0.6565, abs=1e-4)
    assert a.energy_class == "B+"
    assert a.annual_cost_eur == pytest.approx(1127.36, abs=0.01)


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (0.10, "A+"), (0.33, "A+"), (0.3301, "A"), (0.50, "A"), (0.75, "B+"), (1.00, "B"), (1.0001, "C"),
        (1.41, "C"), (1.82, "D"), (2.27, "E"), (2.73, "F"), (2.7301, "G"), (9.0, "G"),
    ],
)  # fmt: skip
def test_class_bands_follow_the_greek_certificate_scale(ratio: float, expected: str) -> None:
    assert energy.ENERGY_CLASSES[int(energy.classify(ratio))] == expected


def test_recommendations_for_the_old_house_match_hand_computation() -> None:
    # heat pump: 20030.4 / 3.0 = 6676.8 kWh electricity, cost 1335.36 + 421.05 = 1756.41
    #   savings 3175.23 - 1756.41 = 1418.82; cost 3000 + 40 * 100 = 7000; payback 7000 / 1418.82 = 4.9 years
    #   EP = (6676.8 * 2.9 + 6105.263) / 100 = 254.68 -> R = 2.248 -> E
    # insulation: H_tr = 0.50*105 + 75 + 0.45*100 + 0.5*0.70*100 = 207.5; H = 309.5; Q = 309.5*28.8 = 8913.6
    #   oil 11142.0 kWh, cost 1225.62 + 421.05 = 1646.67; savings 1528.56; cost 60*105 + 40*100 = 10300; 6.7 years
    recs = {r.measure: r for r in recommend(OLD_HOUSE)}
    assert set(recs) == {"insulation", "windows", "heat_pump", "solar_hot_water"}
    hp = recs["heat_pump"]
    assert (hp.cost_eur, hp.annual_savings_eur, hp.payback_years) == (7000.0, 1418.82, 4.9)
    assert hp.resulting_primary_energy_kwh_m2 == pytest.approx(254.68, abs=0.01)
    assert hp.resulting_class == "E"
    ins = recs["insulation"]
    assert (ins.cost_eur, ins.annual_savings_eur, ins.payback_years) == (10300.0, 1528.56, 6.7)
    # sorted by payback, cheapest first
    paybacks = [r.payback_years for r in recommend(OLD_HOUSE)]
    assert paybacks == sorted(paybacks)
    bundle = package(OLD_HOUSE)
    assert bundle is not None
    assert bundle.cost_eur == pytest.approx(sum(r.cost_eur for r in recs.values()))
    assert bundle.annual_savings_eur > max(r.annual_savings_eur for r in recs.values())


def test_no_recommendation_when_nothing_improves() -> None:
    best = NEW_HOUSE.with_changes(insulation="nzeb", windows="triple", solar_fraction=0.8)
    assert recommend(best) == []
    assert package(best) is None


def test_vectorised_model_matches_the_scalar_one_on_generated_properties() -> None:
    chunk = generate_properties(seed=7, chunk_index=0, count=200)
    for i in range(0, 200, 17):
        spec = BuildingSpec(
            area_m2=float(chunk.area_m2[i]),
            floors=int(chunk.floors[i]),
            year_built=int(chunk.year_built[i]),
            insulation=energy.INSULATION_LEVELS[chunk.insulation[i]],
            windows=energy.WINDOW_TYPES[chunk.windows[i]],
            heating_system=energy.HEATING_SYSTEMS[chunk.heating[i]],
            hot_water=energy.HOT_WATER_SYSTEMS[chunk.hot_water[i]],
            solar_fraction=float(chunk.solar_fraction[i]),
            climate_zone=energy.CLIMATE_ZONES[chunk.zone[i]],
        )
        a = assess(spec)
        assert a.energy_class == energy.ENERGY_CLASSES[chunk.class_code[i]]
        assert a.primary_energy_kwh_m2 == pytest.approx(chunk.primary_energy_kwh_m2[i], abs=0.01)
        bundle = package(spec, a)
        expected = bundle.annual_savings_eur if bundle else 0.0
        assert chunk.potential_savings_eur[i] == pytest.approx(expected, abs=0.02)


def test_package_keeps_features_already_better_than_its_targets() -> None:
    # nzeb insulation, triple glazing and 80 % solar beat the package targets (kenak2010, low-e, 70 %):
    # the package must not downgrade them, so a heat-pump house like this saves nothing.
    args = ([100.0], [1], [2020], [3], [3], [2], [3], [0.8], [1])
    current = energy.evaluate(*args).annual_cost_eur
    assert package_annual_savings(*args, current_cost_eur=current) == pytest.approx([0.0])
    # the same house with an oil boiler saves exactly what switching to the heat pump saves
    oil = ([100.0], [1], [2020], [3], [3], [0], [3], [0.8], [1])
    oil_cost = energy.evaluate(*oil).annual_cost_eur
    assert package_annual_savings(*oil, current_cost_eur=oil_cost) == pytest.approx(oil_cost - current)


def test_unknown_label_is_named() -> None:
    with pytest.raises(ValueError, match="insulation must be one of"):
        assess(OLD_HOUSE.with_changes(insulation="foam"))
    with pytest.raises(ValueError, match="heating_system must be one of"):
        assess(OLD_HOUSE.with_changes(heating_system=None))  # not a label at all (unhashable values too)


def test_with_changes_copies_and_refuses_an_unknown_field() -> None:
    changed = OLD_HOUSE.with_changes(floors=3, windows="triple")
    assert (changed.floors, changed.windows, changed.area_m2) == (3, "triple", OLD_HOUSE.area_m2)
    assert OLD_HOUSE.floors != 3  # the original is unchanged
    with pytest.raises(TypeError, match="no field colour"):
        OLD_HOUSE.with_changes(colour="red")
