"""Helpers shared by the backup tests: a small seeded database with awkward column types."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from system_under_test.data.seed import seed

SEED_PROPERTIES = 2_000

# Types whose text form depends on session settings (timestamptz, float, bytea, interval) and a table whose
# types have no hash function (json, point), so the md5 fallback of the checksum is exercised too.
EXTRA_SQL = """
CREATE SCHEMA audit;
CREATE TABLE audit."Odd Names" (id int, doc json, at point, note text);
INSERT INTO audit."Odd Names"
SELECT g, json_build_object('g', g), point(g, -g), CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END
FROM generate_series(1, 300) g;
CREATE TABLE audit.events (at timestamptz, ratio float8, blob bytea, span interval);
INSERT INTO audit.events
SELECT now() - g * interval '1 hour', 1.0 / g, decode(md5(g::text), 'hex'), g * interval '1 minute'
FROM generate_series(1, 500) g;
INSERT INTO audit.events SELECT * FROM audit.events LIMIT 5;  -- duplicate rows must count twice
"""


async def seed_small(dsn: str) -> None:
    """2,000 seeded properties (and related tables) plus the awkward `audit` tables."""
    await seed(dsn, SEED_PROPERTIES, seed=42)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(EXTRA_SQL)
    finally:
        await conn.close()


async def scratch_databases(dsn: str) -> list[str]:
    """Names of restore-drill scratch databases left on the server."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'athbench_restore_%'")
        return [row["datname"] for row in rows]
    finally:
        await conn.close()


def backup_files(directory: Path) -> list[str]:
    """Every file name in `directory`, hidden temporaries included, sorted."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []
