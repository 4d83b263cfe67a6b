"""Energy assessment of a building: a documented steady-state degree-day heat-balance model.

All functions are pure and work element-wise on numpy arrays (the seeder assesses millions of
properties at once) or on scalars (the API assesses one). Categorical inputs are integer codes
indexing the tuples below (`INSULATION_LEVELS` etc.).

The model, per building (floor area A m2, n floors, storey height h = 3 m):

1. Geometry. A square plan: footprint F = A / n, perimeter P = 4 sqrt(F); gross wall area
   P h n; windows cover 15 % of the floor area (W = 0.15 A); opaque wall = gross wall - W;
   roof = floor on ground = F; heated volume V = A h.
2. Transmission heat-loss coefficient H_tr = U_wall * opaque + U_win * W + U_roof * F
   + b_ground * U_floor * F  [W/K], with b_ground = 0.5 (the ground is warmer than outside air).
3. Ventilation H_ve = 0.34 * ach * V [W/K] (0.34 Wh/m3K is the heat capacity of air); the air
   change rate depends on the construction era (leakier before the 1979 insulation regulation).
4. Heating need Q_h = (H_tr + H_ve) * HDD * 24 / 1000 [kWh/yr], HDD the heating degree-days of the
   climate zone at base 18 C (a base below the 20 C set point accounts for internal and solar gains).
5. Hot-water need Q_w = 20 kWh/m2/yr * A, of which the solar fraction f is covered by collectors.
6. Delivered energy = need / seasonal efficiency (COP for heat pumps); primary energy = delivered *
   the primary-energy factor of the carrier (KENAK: electricity 2.9, oil 1.1, gas 1.05, biomass 1.0).
   EP = primary energy / A [kWh/m2/yr].
7. The reference building has the same geometry and climate zone, the KENAK 2010 maximum U-values of
   that zone, 0.5 air changes per hour, an oil boiler of efficiency 0.85 and electric hot water with
   60 % solar coverage. The energy class follows from R = EP / EP_ref on the Greek certificate scale:
   A+ <= 0.33 < A <= 0.50 < B+ <= 0.75 < B <= 1.00 < C <= 1.41 < D <= 1.82 < E <= 2.27 < F <= 2.73 < G.
8. Annual energy cost = delivered energy per carrier * its price (EUR/kWh).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

# --- categories (the order defines the integer codes) ------------------------------------------
CLIMATE_ZONES: tuple[str, ...] = ("A", "B", "C", "D")
INSULATION_LEVELS: tuple[str, ...] = ("none", "partial", "kenak2010", "nzeb")
WINDOW_TYPES: tuple[str, ...] = ("single", "double", "double_low_e", "triple")
HEATING_SYSTEMS: tuple[str, ...] = ("oil_boiler", "gas_boiler", "heat_pump", "electric_resistance", "biomass")
HOT_WATER_SYSTEMS: tuple[str, ...] = ("electric", "gas", "oil", "heat_pump")
CARRIERS: tuple[str, ...] = ("electricity", "oil", "gas", "biomass")
ENERGY_CLASSES: tuple[str, ...] = ("A+", "A", "B+", "B", "C", "D", "E", "F", "G")

# --- constants ---------------------------------------------------------------------------------
STOREY_HEIGHT_M = 3.0
WINDOW_TO_FLOOR_RATIO = 0.15
GROUND_REDUCTION_FACTOR = 0.5
AIR_HEAT_CAPACITY_WH_M3K = 0.34
HOT_WATER_NEED_KWH_M2 = 20.0

#: Heating degree-days (base 18 C) representative of the KENAK zones (Heraklion, Athens,
#: Thessaloniki, Kozani).
HEATING_DEGREE_DAYS = np.array([900.0, 1200.0, 1800.0, 2600.0])
#: U-values (W/m2K) by insulation level: none, partial, kenak2010, nzeb.
U_WALL = np.array([1.70, 0.90, 0.50, 0.30])
U_ROOF = np.array([2.80, 1.00, 0.45, 0.25])
U_FLOOR = np.array([1.20, 0.90, 0.70, 0.50])
#: Window U-values (W/m2K, frame included): single, double, double_low_e, triple.
U_WINDOW = np.array([5.0, 3.2, 2.0, 1.2])
#: KENAK 2010 maximum U-values of the reference building per climate zone A-D.
U_REF_WALL = np.array([0.60, 0.50, 0.45, 0.40])
U_REF_ROOF = np.array([0.50, 0.45, 0.40, 0.35])
U_REF_FLOOR = np.array([1.20, 0.90, 0.75, 0.70])
U_REF_WINDOW = np.array([3.20, 3.00, 2.80, 2.60])
REFERENCE_AIR_CHANGES = 0.5
#: Construction eras (year built < bound) and their air changes per hour.
ERA_BOUNDS = np.array([1980, 2010])
ERA_AIR_CHANGES = np.array([1.0, 0.75, 0.5])

#: Seasonal efficiency (COP for heat pumps) and carrier code of each heating system.
HEATING_EFFICIENCY = np.array([0.80, 0.90, 3.00, 1.00, 0.70])
HEATING_CARRIER = np.array([1, 2, 0, 0, 3])
#: Efficiency and carrier of each hot-water system.
HOT_WATER_EFFICIENCY = np.array([0.95, 0.85, 0.80, 2.50])
HOT_WATER_CARRIER = np.array([0, 2, 1, 0])
#: Primary-energy factors (KENAK) and prices (EUR/kWh) per carrier: electricity, oil, gas, biomass.
PRIMARY_ENERGY_FACTOR = np.array([2.9, 1.1, 1.05, 1.0])
CARRIER_PRICE_EUR_KWH = np.array([0.20, 0.11, 0.09, 0.07])
REFERENCE_HEATING_EFFICIENCY = 0.85
REFERENCE_HEATING_CARRIER = 1
REFERENCE_HOT_WATER_EFFICIENCY = 0.95
REFERENCE_HOT_WATER_CARRIER = 0
REFERENCE_SOLAR_FRACTION = 0.60
#: Upper bounds of R = EP / EP_ref for A+ .. F (G is above the last).
CLASS_UPPER_BOUNDS = np.array([0.33, 0.50, 0.75, 1.00, 1.41, 1.82, 2.27, 2.73])


class Geometry(NamedTuple):
    """Areas (m2) and volume (m3) of the simplified building."""

    opaque_wall_m2: NDArray[np.float64]
    window_m2: NDArray[np.float64]
    roof_m2: NDArray[np.float64]
    ground_floor_m2: NDArray[np.float64]
    volume_m3: NDArray[np.float64]


class EnergyResult(NamedTuple):
    """Model outputs, element-wise."""

    heating_need_kwh: NDArray[np.float64]
    hot_water_need_kwh: NDArray[np.float64]
    primary_energy_kwh_m2: NDArray[np.float64]
    reference_primary_energy_kwh_m2: NDArray[np.float64]
    ratio: NDArray[np.float64]
    class_code: NDArray[np.int64]
    annual_cost_eur: NDArray[np.float64]


def geometry(area_m2: ArrayLike, floors: ArrayLike) -> Geometry:
    """Envelope areas of a square-plan building of `floors` storeys and total floor area `area_m2`."""
    area = np.asarray(area_m2, dtype=np.float64)
    n = np.asarray(floors, dtype=np.float64)
    footprint = area / n
    gross_wall = 4.0 * np.sqrt(footprint) * STOREY_HEIGHT_M * n
    window = WINDOW_TO_FLOOR_RATIO * area
    return Geometry(
        opaque_wall_m2=np.maximum(gross_wall - window, 0.0),
        window_m2=window,
        roof_m2=footprint,
        ground_floor_m2=footprint,
        volume_m3=area * STOREY_HEIGHT_M,
    )


def air_changes_per_hour(year_built: ArrayLike) -> NDArray[np.float64]:
    """Infiltration air changes per hour by construction era (before 1980, 1980-2009, 2010 on)."""
    return ERA_AIR_CHANGES[np.searchsorted(ERA_BOUNDS, np.asarray(year_built), side="right")]


def heat_loss_coefficient(
    geo: Geometry,
    u_wall: ArrayLike,
    u_window: ArrayLike,
    u_roof: ArrayLike,
    u_floor: ArrayLike,
    air_changes: ArrayLike,
) -> NDArray[np.float64]:
    """H = H_tr + H_ve in W/K."""
    transmission = (
        np.asarray(u_wall) * geo.opaque_wall_m2
        + np.asarray(u_window) * geo.window_m2
        + np.asarray(u_roof) * geo.roof_m2
        + GROUND_REDUCTION_FACTOR * np.asarray(u_floor) * geo.ground_floor_m2
    )
    ventilation = AIR_HEAT_CAPACITY_WH_M3K * np.asarray(air_changes) * geo.volume_m3
    return transmission + ventilation


def heating_need_kwh(heat_loss_w_k: ArrayLike, zone: ArrayLike) -> NDArray[np.float64]:
    """Annual heating need in kWh from the degree-days of the climate zone."""
    return np.asarray(heat_loss_w_k) * HEATING_DEGREE_DAYS[np.asarray(zone)] * 24.0 / 1000.0


def classify(ratio: ArrayLike) -> NDArray[np.int64]:
    """Energy-class code (index into ENERGY_CLASSES) of EP / EP_ref ratios."""
    return np.searchsorted(CLASS_UPPER_BOUNDS, np.asarray(ratio), side="left")


def _delivered(
    heating_need: NDArray[np.float64],
    hot_water_need: NDArray[np.float64],
    heating_eff: ArrayLike,
    heating_carrier: ArrayLike,
    hot_water_eff: ArrayLike,
    hot_water_carrier: ArrayLike,
    solar_fraction: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Primary energy (kWh) and energy cost (EUR) of the delivered heating and hot water."""
    heat = heating_need / np.asarray(heating_eff)
    water = hot_water_need * (1.0 - np.asarray(solar_fraction)) / np.asarray(hot_water_eff)
    primary = heat * PRIMARY_ENERGY_FACTOR[heating_carrier] + water * PRIMARY_ENERGY_FACTOR[hot_water_carrier]
    cost = heat * CARRIER_PRICE_EUR_KWH[heating_carrier] + water * CARRIER_PRICE_EUR_KWH[hot_water_carrier]
    return primary, cost


def evaluate(
    area_m2: ArrayLike,
    floors: ArrayLike,
    year_built: ArrayLike,
    insulation: ArrayLike,
    windows: ArrayLike,
    heating: ArrayLike,
    hot_water: ArrayLike,
    solar_fraction: ArrayLike,
    zone: ArrayLike,
) -> EnergyResult:
    """Assess buildings element-wise (categorical arguments are integer codes)."""
    area = np.asarray(area_m2, dtype=np.float64)
    zone = np.asarray(zone)
    insulation = np.asarray(insulation)
    heating = np.asarray(heating)
    hot_water = np.asarray(hot_water)
    geo = geometry(area, floors)

    loss = heat_loss_coefficient(
        geo,
        U_WALL[insulation],
        U_WINDOW[np.asarray(windows)],
        U_ROOF[insulation],
        U_FLOOR[insulation],
        air_changes_per_hour(year_built),
    )
    q_heat = heating_need_kwh(loss, zone)
    q_water = HOT_WATER_NEED_KWH_M2 * area
    primary, cost = _delivered(
        q_heat,
        q_water,
        HEATING_EFFICIENCY[heating],
        HEATING_CARRIER[heating],
        HOT_WATER_EFFICIENCY[hot_water],
        HOT_WATER_CARRIER[hot_water],
        solar_fraction,
    )

    ref_loss = heat_loss_coefficient(
        geo, U_REF_WALL[zone], U_REF_WINDOW[zone], U_REF_ROOF[zone], U_REF_FLOOR[zone], REFERENCE_AIR_CHANGES
    )
    ref_primary, _ = _delivered(
        heating_need_kwh(ref_loss, zone),
        q_water,
        REFERENCE_HEATING_EFFICIENCY,
        REFERENCE_HEATING_CARRIER,
        REFERENCE_HOT_WATER_EFFICIENCY,
        REFERENCE_HOT_WATER_CARRIER,
        REFERENCE_SOLAR_FRACTION,
    )
    ep = primary / area
    ep_ref = ref_primary / area
    ratio = ep / ep_ref
    return EnergyResult(
        heating_need_kwh=q_heat,
        hot_water_need_kwh=q_water,
        primary_energy_kwh_m2=ep,
        reference_primary_energy_kwh_m2=ep_ref,
        ratio=ratio,
        class_code=classify(ratio),
        annual_cost_eur=cost,
    )
