"""Create the schema and bulk-load synthetic data with COPY (asyncpg `copy_records_to_table`).

Data safety: athbench only ever replaces a database it seeded itself (one carrying the `athbench_meta`
marker table, written by the seed) or one with no tables at all. A database holding any other table
(an external `ATHBENCH_POSTGRES_DSN`, a database seeded by someone else, or by an athbench too old to
write the marker) is refused with `ForeignDatabaseError` unless the caller passes `force=True`
(`athbench stack seed --force`). Nothing is dropped before that check.

All or nothing: the whole seed (drop, create, COPY, keys and indexes, the marker) is one transaction, so
an interrupted seed leaves the database as it was (empty, typically) and the next `ensure_seeded()`
redoes it; a database with the marker is always complete. Only `VACUUM ANALYZE` runs after the commit.
Concurrent seeders serialise on an advisory lock and re-check the state under it.

Generation of chunk k+1 (numpy, in a worker thread) overlaps the COPY of chunk k; keys and
indexes are built after the load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Literal

import asyncpg

from system_under_test.data import generator
from system_under_test.domain import energy

log = logging.getLogger(__name__)

#: Version of the schema `schema.sql` and `indexes.sql` create; a marker with another version is re-seeded
#: (2: the index on portfolio_properties.property_id).
SCHEMA_VERSION = 2
MARKER_TABLE = "athbench_meta"
SEED_LOCK_ID = 0x61746273  # "atbs": serialises seeders of one database
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


class ForeignDatabaseError(RuntimeError):
    """The database holds tables athbench did not create: seeding it would destroy someone's data."""


DatabaseKind = Literal["empty", "athbench", "foreign"]


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """What a database holds: nothing, athbench's own seed (with its schema version), or foreign tables."""

    database: str
    kind: DatabaseKind
    schema_version: int | None = None
    tables: tuple[str, ...] = ()


_RELATIONS_SQL = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1
"""


async def inspect_database(conn: asyncpg.Connection) -> DatabaseState:
    """Classify the connected database (user relations outside extensions; the marker table)."""
    database = await conn.fetchval("SELECT current_database()")
    tables = tuple(await conn.fetchval(f"SELECT coalesce(array_agg(r), '{{}}') FROM ({_RELATIONS_SQL}) t(r)"))
    if not tables:
        return DatabaseState(database, "empty")
    if f"public.{MARKER_TABLE}" in tables:
        version = await conn.fetchval(f"SELECT max(schema_version) FROM {MARKER_TABLE}")
        if version is not None:
            return DatabaseState(database, "athbench", int(version), tables)
    return DatabaseState(database, "foreign", None, tables)


def _refusal(state: DatabaseState) -> ForeignDatabaseError:
    shown = ", ".join(state.tables[:5]) + (f" and {len(state.tables) - 5} more" if len(state.tables) > 5 else "")
    return ForeignDatabaseError(
        f"database {state.database!r} holds tables athbench did not create ({shown}) and no "
        f"{MARKER_TABLE} marker: refusing to drop anything. Point athbench at a new, empty database, or pass "
        "--force (athbench stack seed --force) to replace athbench's tables in it."
    )


async def seed(
    dsn: str,
    properties: int,
    seed: int = 42,
    progress: Progress | None = None,
    *,
    force: bool = False,
) -> SeedReport:
    """Replace athbench's tables with `properties` synthetic properties and related rows, in one transaction.

    Refuses (`ForeignDatabaseError`, nothing touched) a database with tables but no athbench marker unless
    `force`. `progress(done, total)` is called after each chunk of properties is loaded.
    """
    report = await _seed(dsn, properties, seed, progress, force=force, only_if_needed=False)
    assert report is not None
    return report


async def _seed(
    dsn: str, properties: int, seed: int, progress: Progress | None, *, force: bool, only_if_needed: bool
) -> SeedReport | None:
    if not MIN_PROPERTIES <= properties <= MAX_PROPERTIES:
        raise ValueError(f"properties must be between {MIN_PROPERTIES} and {MAX_PROPERTIES}, got {properties}")
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '256MB'")
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SEED_LOCK_ID)
            state = await inspect_database(conn)
            if state.kind == "foreign" and not force:
                raise _refusal(state)
            if only_if_needed and state.kind == "athbench":
                if state.schema_version == SCHEMA_VERSION:
                    return None
                log.warning(
                    "database %r was seeded by athbench with schema version %s (now %s): re-seeding it",
                    state.database, state.schema_version, SCHEMA_VERSION,
                )  # fmt: skip
            counts = await _load(conn, properties, seed, progress)
            loaded = time.perf_counter()
            await conn.execute(_sql("indexes.sql"))
            await conn.execute(
                f"INSERT INTO {MARKER_TABLE} (schema_version, properties, seed) VALUES ($1, $2, $3)",
                SCHEMA_VERSION, properties, seed,
            )  # fmt: skip
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    finished = time.perf_counter()
    transactions, users, portfolios, portfolio_properties = counts
    return SeedReport(
        properties=properties,
        market_transactions=transactions,
        users=users,
        portfolios=portfolios,
        portfolio_properties=portfolio_properties,
        load_seconds=round(loaded - started, 3),
        index_seconds=round(finished - loaded, 3),
        seconds=round(finished - started, 3),
    )


async def _load(
    conn: asyncpg.Connection, properties: int, seed: int, progress: Progress | None
) -> tuple[int, int, int, int]:
    """Drop and create the tables and COPY every row (inside the caller's transaction)."""
    await conn.execute(_sql("schema.sql"))
    await _load_reference_data(conn)
    chunks = -(-properties // generator.CHUNK_SIZE)
    transactions = 0
    pending = asyncio.create_task(asyncio.to_thread(_chunk, seed, 0, properties))
    try:
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
    finally:
        if not pending.done():
            pending.cancel()
    owners = await asyncio.to_thread(generator.generate_owners, seed, properties)
    await conn.copy_records_to_table("users", records=owners.users, columns=("id", "name", "email"))
    await conn.copy_records_to_table("portfolios", records=owners.portfolios, columns=("id", "user_id", "name"))
    await conn.copy_records_to_table(
        "portfolio_properties",
        records=owners.portfolio_properties,
        columns=("portfolio_id", "property_id"),
    )
    return transactions, len(owners.users), len(owners.portfolios), len(owners.portfolio_properties)


async def database_state(dsn: str) -> DatabaseState:
    """`inspect_database` of the database `dsn` names."""
    conn = await asyncpg.connect(dsn)
    try:
        return await inspect_database(conn)
    finally:
        await conn.close()


async def is_empty(dsn: str) -> bool:
    """True when the database holds no tables at all (a database with foreign tables is not empty)."""
    return (await database_state(dsn)).kind == "empty"


async def ensure_seeded(
    dsn: str, properties: int = DEFAULT_PROPERTIES, progress: Progress | None = None, *, force: bool = False
) -> SeedReport | None:
    """Seed a database with no tables (or athbench's own of an older schema version); leave a complete
    athbench seed alone (returns None then); refuse a foreign one (`ForeignDatabaseError`) unless `force`."""
    return await _seed(dsn, properties, 42, progress, force=force, only_if_needed=True)
