"""Create the schema and bulk-load synthetic data with COPY (asyncpg `copy_records_to_table`).

`seed()` replaces whatever the database holds; `ensure_seeded()` seeds only an empty database.
Generation of chunk k+1 (numpy, in a worker thread) overlaps the COPY of chunk k; keys and
indexes are built after the load, then the tables are vacuumed and analysed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources

import asyncpg

from system_under_test.data import generator
from system_under_test.domain import energy

MIN_PROPERTIES = 1
MAX_PROPERTIES = 20_000_000
DEFAULT_PROPERTIES = 10_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What was loaded and how long it took (seconds)."""

    properties: int
    market_transactions: int
    users: int
    portfolios: int
    portfolio_properties: int
    load_seconds: float
    index_seconds: float
    seconds: float

    def as_dict(self) -> dict[str, float | int]:
        """JSON-compatible form."""
        return asdict(self)


def _sql(name: str) -> str:
    return resources.files("system_under_test.data").joinpath(name).read_text(encoding="utf-8")


def _chunk(seed: int, index: int, total: int) -> tuple[list[tuple], list[tuple]]:
    count = min(generator.CHUNK_SIZE, total - index * generator.CHUNK_SIZE)
    props = generator.generate_properties(seed, index, count)
    return generator.property_records(props), generator.transaction_records(seed, index, props)


async def _load_reference_data(conn: asyncpg.Connection) -> None:
    await conn.copy_records_to_table(
        "climate_zones",
        records=[
            (code, generator.CLIMATE_ZONE_NAMES[code], int(hdd))
            for code, hdd in zip(energy.CLIMATE_ZONES, energy.HEATING_DEGREE_DAYS, strict=True)
        ],
        columns=("code", "name", "heating_degree_days"),
    )
    await conn.copy_records_to_table(
        "neighbourhoods",
        records=[(n.id, n.slug, n.name, n.city, n.climate_zone, n.base_price_per_m2) for n in generator.NEIGHBOURHOODS],
        columns=("id", "slug", "name", "city", "climate_zone", "base_price_per_m2"),
    )


async def seed(dsn: str, properties: int, seed: int = 42, progress: Progress | None = None) -> SeedReport:
    """Drop and recreate the schema, then load `properties` synthetic properties and related rows.

    `progress(done, total)` is called after each chunk of properties is loaded.
    """
    if not MIN_PROPERTIES <= properties <= MAX_PROPERTIES:
        raise ValueError(f"properties must be between {MIN_PROPERTIES} and {MAX_PROPERTIES}, got {properties}")
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '256MB'")
        await conn.execute(_sql("schema.sql"))
        await _load_reference_data(conn)

        chunks = -(-properties // generator.CHUNK_SIZE)
        transactions = 0
        pending = asyncio.create_task(asyncio.to_thread(_chunk, seed, 0, properties))
        for index in range(chunks):
            prop_rows, sale_rows = await pending
            if index + 1 < chunks:
                pending = asyncio.create_task(asyncio.to_thread(_chunk, seed, index + 1, properties))
            await conn.copy_records_to_table("properties", records=prop_rows, columns=generator.PROPERTY_COLUMNS)
            await conn.copy_records_to_table(
                "market_transactions", records=sale_rows, columns=generator.TRANSACTION_COLUMNS
            )
            transactions += len(sale_rows)
            if progress is not None:
                progress(min((index + 1) * generator.CHUNK_SIZE, properties), properties)

        owners = await asyncio.to_thread(generator.generate_owners, seed, properties)
        await conn.copy_records_to_table("users", records=owners.users, columns=("id", "name", "email"))
        await conn.copy_records_to_table("portfolios", records=owners.portfolios, columns=("id", "user_id", "name"))
        await conn.copy_records_to_table(
            "portfolio_properties",
            records=owners.portfolio_properties,
            columns=("portfolio_id", "property_id"),
        )
        loaded = time.perf_counter()
        await conn.execute(_sql("indexes.sql"))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    finished = time.perf_counter()
    return SeedReport(
        properties=properties,
        market_transactions=transactions,
        users=len(owners.users),
        portfolios=len(owners.portfolios),
        portfolio_properties=len(owners.portfolio_properties),
        load_seconds=round(loaded - started, 3),
        index_seconds=round(finished - loaded, 3),
        seconds=round(finished - started, 3),
    )


async def is_empty(dsn: str) -> bool:
    """True when the database has no `properties` table or the table has no rows."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('public.properties')") is None:
            return True
        return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM properties)")
    finally:
        await conn.close()


async def ensure_seeded(
    dsn: str, properties: int = DEFAULT_PROPERTIES, progress: Progress | None = None
) -> SeedReport | None:
    """Seed an empty database; leave a populated one alone (returns None then)."""
    if not await is_empty(dsn):
        return None
    return await seed(dsn, properties, progress=progress)
