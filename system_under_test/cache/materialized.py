"""L3: PostgreSQL materialized views of the expensive aggregates (market and portfolio statistics).

`MaterializedViews` creates the views idempotently once the tables exist (the database is seeded
after the service starts, and a re-seed drops them), then refreshes them CONCURRENTLY on a schedule:
readers never block on a refresh, and a view is at most one interval stale. While a view is empty
(not seeded yet) it is refreshed every `EMPTY_RETRY_S`. With several service processes one refresher
runs per round (an advisory lock). Reads go through the service's `Database` (its resilience policy);
the refresh uses the raw pool with its own, longer time limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import asyncpg

SQL_PATH = Path(__file__).with_name("materialized.sql")
VIEWS = ("mv_market_stats", "mv_portfolio_stats")
REQUIRED_TABLES = ("neighbourhoods", "properties", "market_transactions", "users", "portfolios", "portfolio_properties")
ADVISORY_LOCK_ID = 0x61746862  # "athb"
EMPTY_RETRY_S = 2.0
REFRESH_TIMEOUT_S = 120.0

log = logging.getLogger(__name__)


class MaterializedViews:
    """Create, refresh and read the L3 views. `db` is the service's `Database` (fetchrow + pool)."""

    def __init__(self, db: Any, interval_s: float) -> None:
        self.db = db
        self.interval_s = interval_s
        self.refreshes = 0
        self.last_refresh_at: float | None = None
        self.last_refresh_s: float | None = None
        self.last_error: str | None = None
        self._populated = False
        self._task: asyncio.Task[None] | None = None

    async def ensure(self, conn: asyncpg.Connection) -> bool:
        """Create the views if the tables exist; False when the schema is not there yet."""
        present = await conn.fetchval(
            "SELECT count(*) FROM unnest($1::text[]) t WHERE to_regclass('public.' || t) IS NOT NULL",
            list(REQUIRED_TABLES),
        )
        if present < len(REQUIRED_TABLES):
            return False
        await conn.execute(SQL_PATH.read_text())
        return True

    async def refresh(self) -> bool:
        """One refresh round; False when skipped (schema missing, or another process holds the lock)."""
        start = time.perf_counter()
        conn = await self.db.pool.acquire()
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S):
                refreshed = await self._refresh_on(conn)
        except (asyncio.CancelledError, TimeoutError):
            # Do not wait for a stalled server to confirm the cancel (see db.Database); ending the
            # session also releases the advisory lock.
            conn.terminate()
            raise
        finally:
            await self.db.pool.release(conn)
        if refreshed:
            self.refreshes += 1
            self.last_refresh_at = time.time()
            self.last_refresh_s = time.perf_counter() - start
        return refreshed

    async def _refresh_on(self, conn: asyncpg.Connection) -> bool:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_ID):
            self._populated = await self._views_populated(conn)
            return False
        try:
            refreshed = await self._refresh_views(conn)
        except asyncio.CancelledError:
            raise  # the caller terminates the connection
        except BaseException:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)
            raise
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)
        return refreshed

    async def _refresh_views(self, conn: asyncpg.Connection) -> bool:
        if not await self.ensure(conn):
            self._populated = False
            return False
        for view in VIEWS:
            await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")
        self._populated = await self._views_populated(conn)
        return True

    @staticmethod
    async def _views_populated(conn: asyncpg.Connection) -> bool:
        for view in VIEWS:
            if await conn.fetchval("SELECT to_regclass($1)", f"public.{view}") is None:
                return False
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM mv_market_stats)"))

    async def run(self) -> None:
        """Refresh forever; errors are logged and retried next round."""
        while True:
            try:
                await self.refresh()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("materialized view refresh failed: %s", self.last_error)
            await asyncio.sleep(self.interval_s if self._populated else EMPTY_RETRY_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="cache-l3-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def market(self, slug: str) -> dict[str, Any] | None:
        """The neighbourhood's row of `mv_market_stats`, or None (unknown, or the view not built yet)."""
        return await self._row("SELECT * FROM mv_market_stats WHERE slug = $1", slug)

    async def portfolio(self, user_id: int) -> dict[str, Any] | None:
        """The user's row of `mv_portfolio_stats`, or None."""
        return await self._row("SELECT * FROM mv_portfolio_stats WHERE user_id = $1", user_id)

    async def _row(self, query: str, arg: Any) -> dict[str, Any] | None:
        if not self._populated:
            return None
        try:
            row = await self.db.read.fetchrow(query, arg)  # the replica when configured
        except asyncpg.UndefinedTableError:
            self._populated = False
            return None
        if row is None:
            return None
        out = dict(row)
        out["class_distribution"] = json.loads(out["class_distribution"])
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "views": list(VIEWS),
            "populated": self._populated,
            "refreshes": self.refreshes,
            "interval_s": self.interval_s,
            "last_refresh_at": self.last_refresh_at,
            "last_refresh_s": self.last_refresh_s,
            "last_error": self.last_error,
        }
