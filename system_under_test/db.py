"""All database access of the service goes through `Database` (one place to wrap, e.g. with a breaker).

The pool starts empty (`min_size=0`) so the service comes up, and reports itself not ready, when
PostgreSQL is down; connections are opened on demand with a connect timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from system_under_test.cache.consistency import READ_PRIMARY
from system_under_test.resilience import Policy

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0


async def _keep_session_state(conn: asyncpg.Connection) -> None:
    """Pool release hook replacing asyncpg's default `RESET ALL; CLOSE ALL; UNLISTEN *; ...` round trip.

    The service never changes session state (no SET, LISTEN, advisory locks or cursors kept open), and
    asyncpg still rolls back an unfinished transaction before calling this, so one query per checkout
    is saved."""


class PostgresUnreachable(ConnectionError):
    """No connection to PostgreSQL could be opened (the driver's error is the `__cause__`)."""

    dependency = "postgres"


class Database:
    """An asyncpg pool with the four query helpers the service uses."""

    def __init__(self, pool: asyncpg.Pool, policy: Policy | None = None) -> None:
        self.pool = pool
        self.policy = policy  # the `postgres` resilience policy (breaker, bulkhead, time limit, retry)
        self.replica: Database | None = None  # a streaming read replica (ATHBENCH_POSTGRES_REPLICA_DSN)

    @property
    def read(self) -> Database:
        """Where read-only endpoint queries go: the replica when one is configured, else this database; the
        primary while the cache reloads a key written moments ago (`cache.consistency.READ_PRIMARY`)."""
        if self.replica is None or READ_PRIMARY.get():
            return self
        return self.replica

    @classmethod
    async def open(
        cls, dsn: str, max_size: int, policy: Policy | None = None, statement_cache_size: int = 100
    ) -> Database:
        """Create the pool; no connection is made until the first query. `statement_cache_size=0` is
        needed behind PgBouncer in transaction mode (a prepared statement lives on one server connection)."""
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            reset=_keep_session_state,
            statement_cache_size=statement_cache_size,
        )
        return cls(pool, policy)

    async def close(self) -> None:
        """Close every connection (waits for ones in use, up to 10 s), the replica's too."""
        if self.replica is not None:
            await self.replica.close()
        try:
            await self.pool.close()
        except TimeoutError:
            self.pool.terminate()

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run `operation` on a pooled connection: the single choke point of every query.

        Under a policy the time limit covers waiting for a connection as well as the query."""
        if self.policy is None:
            return await self._run(operation)
        return await self.policy.call(lambda: self._run(operation))

    async def _run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        try:
            conn = await self.pool.acquire()
        except OSError as exc:
            raise PostgresUnreachable(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            result = await operation(conn)
        except asyncio.CancelledError:
            # Cancelled mid-query (time limit, client gone): a graceful release would wait for the server
            # to confirm the cancel, forever if it is stalled. Drop the connection; the pool opens another.
            conn.terminate()
            await self.pool.release(conn)
            raise
        except BaseException:
            await self.pool.release(conn)
            raise
        await self.pool.release(conn)
        return result

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """All rows of `query`."""
        return await self.run(lambda c: c.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """The first row of `query`, or None."""
        return await self.run(lambda c: c.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first column of the first row of `query`."""
        return await self.run(lambda c: c.fetchval(query, *args))

    async def execute(self, query: str, *args: Any) -> str:
        """Run a statement; returns its status tag."""
        return await self.run(lambda c: c.execute(query, *args))

    def size(self) -> int:
        """Connections currently open."""
        return self.pool.get_size()

    def in_use(self) -> int:
        """Connections currently checked out."""
        return self.pool.get_size() - self.pool.get_idle_size()

    def max_size(self) -> int:
        """The pool's upper bound."""
        return self.pool.get_max_size()
