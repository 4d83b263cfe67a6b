"""Per-table row counts and content checksums, stable across dump and restore.

The checksum of a table is the sum, as numeric, of a 64-bit fingerprint of every row. A sum does not
depend on row order (a restored table has a different physical order and needs no primary key), and a
changed, lost or duplicated row changes it. The fingerprint, recorded as a prefix of the checksum:

- `record:` `hash_record_extended(row, 0)`, PostgreSQL's own per-type hashing of the row's values (the
  functions hash partitioning relies on to place rows identically after a dump and restore). No text
  rendering, about 3x faster than md5; the same on the same platform family and PostgreSQL major version.
- `md5:` the first 16 hex digits of `md5(row::text)` as a bigint, for tables with a column type that
  has no hash function (json, point, ...). The text form depends on session settings (time zone, date
  and interval style, float digits, bytea output); `prepare_session` pins them.

Both sides (backup and restore drill) make the same choice, since it depends only on the column types.
Cost: one sequential scan per table; about 0.5 s per million ~200-byte rows on one core (`record:`).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from system_under_test.backup.pgtools import quote_ident

ALGORITHM = "record: sum(hash_record_extended(row, 0)); md5: sum(int8(left(md5(row::text), 16))); UTC, ISO"

_SESSION = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}

_TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class TableState:
    """What a table held: its row count and content checksum."""

    rows: int
    checksum: str


async def prepare_session(conn: asyncpg.Connection) -> None:
    """Pin the settings that change how rows are rendered as text."""
    for name, value in _SESSION.items():
        await conn.execute(f"SET {name} = '{value}'")


async def table_names(conn: asyncpg.Connection) -> list[str]:
    """Every ordinary user table as `schema.name` (partitions count as tables; their parents do not)."""
    rows = await conn.fetch(_TABLES_SQL)
    return [f"{row['schema']}.{row['name']}" for row in rows]


_FINGERPRINTS = {  # bigints: PostgreSQL sums them exactly (as numeric) with 128-bit integers, not numerics
    "record": "hash_record_extended(t, 0)",
    "md5": "('x' || left(md5(t::text), 16))::bit(64)::bigint",
}


async def _checksum(conn: asyncpg.Connection, relation: str, kind: str) -> asyncpg.Record:
    return await conn.fetchrow(
        f"SELECT count(*) AS rows, coalesce(sum({_FINGERPRINTS[kind]}), 0)::text AS sum FROM {relation} AS t"
    )


async def table_state(conn: asyncpg.Connection, qualified: str) -> TableState:
    """Row count and checksum of one table named `schema.name` (inside a transaction)."""
    schema, _, name = qualified.partition(".")
    relation = f"{quote_ident(schema)}.{quote_ident(name)}"
    kind = "record"
    try:
        async with conn.transaction():  # a savepoint: the fallback must not abort the snapshot
            row = await _checksum(conn, relation, kind)
    except (asyncpg.UndefinedFunctionError, asyncpg.FeatureNotSupportedError):
        kind = "md5"
        row = await _checksum(conn, relation, kind)
    return TableState(rows=int(row["rows"]), checksum=f"{kind}:{row['sum']}")


async def database_state(conn: asyncpg.Connection) -> dict[str, TableState]:
    """Row count and checksum of every user table, in the connection's current snapshot."""
    await prepare_session(conn)
    return {name: await table_state(conn, name) for name in await table_names(conn)}
