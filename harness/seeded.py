"""Facts about the seeded database a scenario builds its requests from: counts, ids, slugs.

Counts come from the seed report when the stack seeded the database itself, else from the database
(`count(*)`). athbench's seed writes contiguous ids from 1 (properties 1..properties, users 1..users),
which is what the standard mix (`harness.workload.endpoint_mix`) draws from. Id and slug lists are read
from the database once and cached. An empty database is a `ScenarioError`-worthy
condition: `SeededDataError` says to seed it first.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import Any

import asyncpg


class SeededDataError(RuntimeError):
    """The database lacks the seeded data a scenario needs."""


def _fetch(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


class SeededData:
    """The seeded data of the database at `dsn` (`seed_report`: the stack's `SeedReport`, if it seeded)."""

    def __init__(self, dsn: str, seed_report: Any = None) -> None:
        self.dsn = dsn
        self._report = seed_report

    def _ids(self, table: str) -> list[int]:
        ids = [int(r[0]) for r in _fetch(self.dsn, f"SELECT id FROM {table} ORDER BY id")]
        if not ids:
            raise SeededDataError(f"the database has no {table}: seed it first (athbench seeds an empty database)")
        return ids

    @cached_property
    def property_ids(self) -> list[int]:
        """Every property id, ascending."""
        return self._ids("properties")

    @cached_property
    def user_ids(self) -> list[int]:
        """Every user id, ascending."""
        return self._ids("users")

    @cached_property
    def neighbourhoods(self) -> list[tuple[int, str]]:
        """(id, slug) of every neighbourhood, by id."""
        rows = _fetch(self.dsn, "SELECT id, slug FROM neighbourhoods ORDER BY id")
        if not rows:
            raise SeededDataError("the database has no neighbourhoods: seed it first")
        return [(int(r[0]), str(r[1])) for r in rows]

    @property
    def neighbourhood_slugs(self) -> list[str]:
        return [slug for _, slug in self.neighbourhoods]

    def _count(self, table: str) -> int:
        count = int(_fetch(self.dsn, f"SELECT count(*) FROM {table}")[0][0])
        if not count:
            raise SeededDataError(f"the database has no {table}: seed it first (athbench seeds an empty database)")
        return count

    @cached_property
    def properties(self) -> int:
        """How many properties were seeded."""
        count = getattr(self._report, "properties", 0)
        return int(count) if count else self._count("properties")

    @cached_property
    def users(self) -> int:
        """How many users were seeded."""
        count = getattr(self._report, "users", 0)
        return int(count) if count else self._count("users")
