"""Deterministic synthetic data: Greek neighbourhoods, properties, market transactions and portfolios.

Everything is drawn with numpy, vectorised, in chunks of `CHUNK_SIZE` properties; chunk `k` uses the
generator `default_rng([seed, k])`, so the data depend only on (seed, number of properties). Energy
columns are computed with the same model the API uses (`domain.energy`), so a stored class is the
class the API reports for that property.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from system_under_test.domain import energy
from system_under_test.domain.recommendations import package_annual_savings

CHUNK_SIZE = 100_000
FIRST_SALE = dt.date(2015, 1, 1)
LAST_SALE = dt.date(2025, 12, 31)
PRICE_GROWTH_PER_YEAR = 0.04


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    """A neighbourhood and what the generator needs about it."""

    id: int
    slug: str
    name: str
    city: str
    climate_zone: str
    base_price_per_m2: float
    weight: float


def _n(i: int, name: str, city: str, zone: str, price: float, weight: float) -> Neighbourhood:
    slug = name.lower().replace(" ", "-").replace("'", "")
    return Neighbourhood(i, slug, name, city, zone, price, weight)


NEIGHBOURHOODS: tuple[Neighbourhood, ...] = (
    _n(1, "Kolonaki", "Athens", "B", 5200, 3),
    _n(2, "Pangrati", "Athens", "B", 3100, 5),
    _n(3, "Kypseli", "Athens", "B", 1900, 6),
    _n(4, "Exarchia", "Athens", "B", 2600, 4),
    _n(5, "Koukaki", "Athens", "B", 3300, 3),
    _n(6, "Glyfada", "Athens", "B", 4600, 5),
    _n(7, "Marousi", "Athens", "B", 3400, 5),
    _n(8, "Kifisia", "Athens", "B", 4200, 4),
    _n(9, "Chalandri", "Athens", "B", 3300, 5),
    _n(10, "Nea Smyrni", "Athens", "B", 3000, 5),
    _n(11, "Kallithea", "Athens", "B", 2300, 6),
    _n(12, "Peristeri", "Athens", "B", 1600, 7),
    _n(13, "Zografou", "Athens", "B", 2400, 5),
    _n(14, "Vyronas", "Athens", "B", 2200, 4),
    _n(15, "Palaio Faliro", "Athens", "B", 3700, 4),
    _n(16, "Piraeus Centre", "Piraeus", "B", 2100, 6),
    _n(17, "Patras Centre", "Patras", "B", 1500, 4),
    _n(18, "Kalamata Centre", "Kalamata", "B", 1500, 2),
    _n(19, "Heraklion Centre", "Heraklion", "A", 2100, 4),
    _n(20, "Alikarnassos", "Heraklion", "A", 1600, 2),
    _n(21, "Chania Old Town", "Chania", "A", 2600, 2),
    _n(22, "Rhodes Town", "Rhodes", "A", 2300, 2),
    _n(23, "Kalamaria", "Thessaloniki", "C", 2300, 5),
    _n(24, "Ano Poli", "Thessaloniki", "C", 1900, 3),
    _n(25, "Toumba", "Thessaloniki", "C", 1700, 4),
    _n(26, "Evosmos", "Thessaloniki", "C", 1300, 4),
    _n(27, "Pylaia", "Thessaloniki", "C", 2200, 3),
    _n(28, "Neapoli", "Thessaloniki", "C", 1400, 3),
    _n(29, "Ioannina Centre", "Ioannina", "C", 1400, 3),
    _n(30, "Larissa Centre", "Larissa", "C", 1200, 3),
    _n(31, "Volos Centre", "Volos", "C", 1300, 2),
    _n(32, "Kozani Centre", "Kozani", "D", 1000, 2),
    _n(33, "Florina Centre", "Florina", "D", 800, 1),
    _n(34, "Kastoria Centre", "Kastoria", "D", 850, 1),
    _n(35, "Ptolemaida", "Ptolemaida", "D", 750, 1),
)
CLIMATE_ZONE_NAMES = {"A": "Zone A (mild)", "B": "Zone B", "C": "Zone C", "D": "Zone D (cold)"}

STREETS = (
    "Ermou", "Stadiou", "Panepistimiou", "Akadimias", "Solonos", "Skoufa", "Patision", "Athinas",
    "Vasilissis Sofias", "Kifisias", "Syngrou", "Alexandras", "Ippokratous", "Tsimiski", "Egnatia",
    "Mitropoleos", "Agiou Dimitriou", "Venizelou", "Kolokotroni", "Miaouli", "Kanari", "Karaiskaki",
    "Papanikoli", "Botsari", "Androutsou", "Makrygianni", "Filellinon", "Othonos", "Navarinou", "Thiseos",
)  # fmt: skip
FIRST_NAMES = (
    "Maria", "Eleni", "Katerina", "Sofia", "Anna", "Georgia", "Dimitra", "Ioanna", "Georgios",
    "Ioannis", "Konstantinos", "Dimitrios", "Nikolaos", "Panagiotis", "Vasileios", "Christos",
)  # fmt: skip
LAST_NAMES = (
    "Papadopoulos", "Papadaki", "Georgiou", "Nikolaidis", "Konstantinou", "Pappas", "Vlachou",
    "Oikonomou", "Karagiannis", "Dimitriou", "Makris", "Athanasiou", "Ioannou", "Christodoulou",
)  # fmt: skip

#: Construction decades and their share of the stock.
DECADE_STARTS = np.arange(1930, 2030, 10)
DECADE_SHARE = np.array([0.03, 0.04, 0.10, 0.15, 0.20, 0.18, 0.12, 0.10, 0.05, 0.03])
FLOOR_COUNTS = np.array([1, 2, 3, 4])
FLOOR_SHARE = np.array([0.45, 0.35, 0.15, 0.05])
#: Category shares per construction era (before 1980, 1980-2009, 2010 on).
INSULATION_SHARE = np.array([[0.65, 0.30, 0.05, 0.0], [0.15, 0.60, 0.25, 0.0], [0.0, 0.05, 0.70, 0.25]])
WINDOW_SHARE = np.array([[0.45, 0.45, 0.10, 0.0], [0.10, 0.65, 0.25, 0.0], [0.0, 0.15, 0.70, 0.15]])
HEATING_SHARE = np.array([0.40, 0.20, 0.22, 0.10, 0.08])
HOT_WATER_SHARE = np.array([0.55, 0.15, 0.10, 0.20])
SOLAR_ADOPTION = 0.35

_ZONE_CODE = np.array([energy.CLIMATE_ZONES.index(n.climate_zone) for n in NEIGHBOURHOODS])
_BASE_PRICE = np.array([n.base_price_per_m2 for n in NEIGHBOURHOODS])
_WEIGHTS = np.array([n.weight for n in NEIGHBOURHOODS], dtype=np.float64)
_NAMES = [n.name for n in NEIGHBOURHOODS]


def _labels(labels: tuple[str, ...], codes: NDArray[np.int64]) -> list[str]:
    return np.array(labels, dtype=object)[codes].tolist()


def _categorical(rng: np.random.Generator, shares: NDArray[np.float64], rows: NDArray[np.int64]) -> NDArray:
    """Draw one category per element; `shares[rows]` holds each element's probabilities."""
    cdf = np.cumsum(shares, axis=-1)[rows]
    cdf[..., -1] = 1.0
    return (rng.random(len(rows))[:, None] > cdf).sum(axis=1)


@dataclass(frozen=True, slots=True)
class PropertyChunk:
    """Columns of a contiguous block of properties (ids `first_id` .. `first_id + len - 1`)."""

    first_id: int
    neighbourhood: NDArray[np.int64]  # index into NEIGHBOURHOODS
    zone: NDArray[np.int64]
    area_m2: NDArray[np.float64]
    year_built: NDArray[np.int64]
    floors: NDArray[np.int64]
    insulation: NDArray[np.int64]
    windows: NDArray[np.int64]
    heating: NDArray[np.int64]
    hot_water: NDArray[np.int64]
    solar_fraction: NDArray[np.float64]
    price_eur: NDArray[np.float64]
    primary_energy_kwh_m2: NDArray[np.float64]
    class_code: NDArray[np.int64]
    potential_savings_eur: NDArray[np.float64]
    street: NDArray[np.int64]
    number: NDArray[np.int64]

    @property
    def ids(self) -> NDArray[np.int64]:
        return np.arange(self.first_id, self.first_id + len(self.area_m2), dtype=np.int64)


def generate_properties(seed: int, chunk_index: int, count: int) -> PropertyChunk:
    """Properties of chunk `chunk_index` (ids start at chunk_index * CHUNK_SIZE + 1)."""
    rng = np.random.default_rng([seed, chunk_index])
    n = count
    nbh = rng.choice(len(NEIGHBOURHOODS), size=n, p=_WEIGHTS / _WEIGHTS.sum())
    zone = _ZONE_CODE[nbh]
    area = np.round(np.clip(rng.lognormal(np.log(85.0), 0.45, n), 25.0, 600.0), 1)
    decade = rng.choice(len(DECADE_STARTS), size=n, p=DECADE_SHARE)
    year = np.minimum(DECADE_STARTS[decade] + rng.integers(0, 10, n), 2025)
    era = np.searchsorted(energy.ERA_BOUNDS, year, side="right")
    floors = rng.choice(FLOOR_COUNTS, size=n, p=FLOOR_SHARE)
    insulation = _categorical(rng, INSULATION_SHARE, era)
    windows = _categorical(rng, WINDOW_SHARE, era)
    heating = rng.choice(len(HEATING_SHARE), size=n, p=HEATING_SHARE)
    hot_water = rng.choice(len(HOT_WATER_SHARE), size=n, p=HOT_WATER_SHARE)
    solar = np.where(rng.random(n) < SOLAR_ADOPTION, np.round(rng.uniform(0.4, 0.75, n), 2), 0.0)

    result = energy.evaluate(area, floors, year, insulation, windows, heating, hot_water, solar, zone)
    savings = package_annual_savings(
        area, floors, year, insulation, windows, heating, hot_water, solar, zone, result.annual_cost_eur
    )
    age = np.minimum(2025 - year, 60)
    price = (
        _BASE_PRICE[nbh]
        * area
        * (1.0 - 0.005 * age)
        * (1.0 + 0.03 * (4 - result.class_code))
        * rng.lognormal(0.0, 0.15, n)
    )
    return PropertyChunk(
        first_id=chunk_index * CHUNK_SIZE + 1,
        neighbourhood=nbh,
        zone=zone,
        area_m2=area,
        year_built=year,
        floors=floors,
        insulation=insulation,
        windows=windows,
        heating=heating,
        hot_water=hot_water,
        solar_fraction=solar,
        price_eur=np.maximum(np.round(price, -2), 10_000.0),
        primary_energy_kwh_m2=np.round(result.primary_energy_kwh_m2, 2),
        class_code=result.class_code,
        potential_savings_eur=np.round(savings, 2),
        street=rng.integers(0, len(STREETS), n),
        number=rng.integers(1, 200, n),
    )


def property_records(c: PropertyChunk) -> list[tuple]:
    """Rows for `properties`, in the column order of `PROPERTY_COLUMNS`."""
    addresses = [
        f"{STREETS[s]} {num}, {_NAMES[h]}"
        for s, num, h in zip(c.street.tolist(), c.number.tolist(), c.neighbourhood.tolist(), strict=True)
    ]
    return list(
        zip(
            c.ids.tolist(),
            addresses,
            (c.neighbourhood + 1).tolist(),
            _labels(energy.CLIMATE_ZONES, c.zone),
            c.area_m2.tolist(),
            c.year_built.tolist(),
            c.floors.tolist(),
            _labels(energy.INSULATION_LEVELS, c.insulation),
            _labels(energy.WINDOW_TYPES, c.windows),
            _labels(energy.HEATING_SYSTEMS, c.heating),
            _labels(energy.HOT_WATER_SYSTEMS, c.hot_water),
            c.solar_fraction.tolist(),
            c.price_eur.tolist(),
            c.primary_energy_kwh_m2.tolist(),
            _labels(energy.ENERGY_CLASSES, c.class_code),
            c.potential_savings_eur.tolist(),
            strict=True,
        )
    )


PROPERTY_COLUMNS = (
    "id", "address", "neighbourhood_id", "climate_zone", "area_m2", "year_built", "floors", "insulation",
    "windows", "heating_system", "hot_water", "solar_fraction", "price_eur", "primary_energy_kwh_m2",
    "energy_class", "potential_savings_eur",
)  # fmt: skip
TRANSACTION_COLUMNS = (
    "id", "property_id", "neighbourhood_id", "sold_on", "price_eur", "area_m2", "price_per_m2",
)  # fmt: skip


def transaction_records(seed: int, chunk_index: int, c: PropertyChunk) -> list[tuple]:
    """About one sale for every second property, 2015-2025, priced back from today's value.

    A transaction's id is its property's id (at most one sale per property).
    """
    rng = np.random.default_rng([seed, chunk_index, 1])
    sold = rng.random(len(c.area_m2)) < 0.5
    days = rng.integers(0, (LAST_SALE - FIRST_SALE).days + 1, int(sold.sum()))
    years_before_end = ((LAST_SALE - FIRST_SALE).days - days) / 365.25
    price = np.round(
        c.price_eur[sold] * (1.0 + PRICE_GROWTH_PER_YEAR) ** -years_before_end * rng.lognormal(0, 0.08, len(days)),
        -2,
    )
    area = c.area_m2[sold]
    first = FIRST_SALE.toordinal()
    ids = c.ids[sold].tolist()
    return list(
        zip(
            ids,
            ids,
            (c.neighbourhood[sold] + 1).tolist(),
            [dt.date.fromordinal(first + d) for d in days.tolist()],
            price.tolist(),
            area.tolist(),
            np.round(price / area, 2).tolist(),
            strict=True,
        )
    )


@dataclass(frozen=True, slots=True)
class Owners:
    """Rows for `users`, `portfolios` and `portfolio_properties`."""

    users: list[tuple[int, str, str]]
    portfolios: list[tuple[int, int, str]]
    portfolio_properties: list[tuple[int, int]]


def generate_owners(seed: int, properties: int) -> Owners:
    """One user per 200 properties (at least 10), 1-3 portfolios each, 3-30 properties per portfolio."""
    rng = np.random.default_rng([seed, 1_000_000_007])
    n_users = max(10, properties // 200)
    per_user = rng.integers(1, 4, n_users)
    portfolio_user = np.repeat(np.arange(1, n_users + 1), per_user)
    portfolio_rank = np.arange(len(portfolio_user)) - np.repeat(np.cumsum(per_user) - per_user, per_user) + 1
    sizes = rng.integers(3, 31, len(portfolio_user))
    portfolio_ids = np.arange(1, len(portfolio_user) + 1)
    pp_portfolio = np.repeat(portfolio_ids, sizes)
    pp_property = rng.integers(1, properties + 1, len(pp_portfolio))
    pairs = np.unique(pp_portfolio * (properties + 1) + pp_property)
    first = rng.integers(0, len(FIRST_NAMES), n_users).tolist()
    last = rng.integers(0, len(LAST_NAMES), n_users).tolist()
    return Owners(
        users=[
            (i + 1, f"{FIRST_NAMES[f]} {LAST_NAMES[s]}", f"user{i + 1}@example.gr")
            for i, (f, s) in enumerate(zip(first, last, strict=True))
        ],
        portfolios=[
            (pid, uid, f"Portfolio {rank}")
            for pid, uid, rank in zip(
                portfolio_ids.tolist(), portfolio_user.tolist(), portfolio_rank.tolist(), strict=True
            )
        ],
        portfolio_properties=list(
            zip((pairs // (properties + 1)).tolist(), (pairs % (properties + 1)).tolist(), strict=True)
        ),
    )
