"""PostgreSQL advisory locks that coordinate backup work across service processes (uvicorn workers).

- Restore drills hold `DRILL_LOCK` shared for their whole run; retention and the start-up cleanup of
  leftover scratch databases take it exclusively, so neither deletes a file or a database a running
  drill (in any process) still uses.
- The backup scheduler's leader holds `SCHEDULER_LOCK` on a session it keeps open: with N workers one
  scheduler takes the backups; when the leader's process dies its session ends and another takes over.

Locks are session-level on a dedicated connection to the service's database; closing (or losing) the
connection releases them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

DRILL_LOCK_ID = 0x61746264  # "atbd"
SCHEDULER_LOCK_ID = 0x6174626C  # "atbl"


@contextlib.asynccontextmanager
async def drill_lock_shared(dsn: str) -> AsyncIterator[None]:
    """Held by a running restore drill (many drills may hold it at once)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock_shared($1)", DRILL_LOCK_ID)
        yield
    finally:
        conn.terminate()  # ends the session at once: releases the lock, even when cancelled


@contextlib.asynccontextmanager
async def drill_lock_exclusive(dsn: str, *, wait: bool) -> AsyncIterator[bool]:
    """Exclusive against every drill; yields whether it was acquired (always True when `wait`)."""
    conn = await asyncpg.connect(dsn)
    try:
        if wait:
            await conn.execute("SELECT pg_advisory_lock($1)", DRILL_LOCK_ID)
            acquired = True
        else:
            acquired = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", DRILL_LOCK_ID))
        yield acquired
    finally:
        conn.terminate()


class LeaderLock:
    """A session advisory lock kept while this process leads; `try_lead()` is called before each round."""

    def __init__(self, dsn: str, lock_id: int = SCHEDULER_LOCK_ID) -> None:
        self.dsn = dsn
        self.lock_id = lock_id
        self._conn: asyncpg.Connection | None = None

    @property
    def leading(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def try_lead(self) -> bool:
        """True when this process holds (or just took) the lock; False when another process does."""
        if self._conn is not None:
            try:
                await self._conn.fetchval("SELECT 1")  # still connected: still the leader
                return True
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                self._conn.terminate()
                self._conn = None
        conn = await asyncpg.connect(self.dsn)
        try:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_id):
                self._conn = conn
                return True
        except BaseException:
            conn.terminate()
            raise
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
