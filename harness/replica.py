"""A streaming read replica of an embedded PostgreSQL (optional; used by the `read_replica` scenario).

`pg_basebackup -R -X stream` (from pgserver's bin directory) copies the primary's data directory and
writes `standby.signal` plus `primary_conninfo`; a second server started on that copy is a hot standby
that streams the primary's WAL. The embedded primary already allows it: `wal_level=replica`, WAL senders
and `host replication all 127.0.0.1/32` (scram-sha-256) are initdb's defaults; pg_basebackup gets the
superuser's password in its environment and writes it into `primary_conninfo` in the standby's data
directory (mode 0700, the server user's).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.postgres import PG_USER, EmbeddedPostgres, PostgresError, pg_bin_dir
from harness.processes import ProcessGroup
from harness.server_user import server_dir

REPLICA_SETTINGS = {"hot_standby": "on", "hot_standby_feedback": "on"}


@dataclass
class EmbeddedReplica:
    """A hot standby of `primary` in `data_dir`, owned by `group`."""

    primary: EmbeddedPostgres
    data_dir: Path
    group: ProcessGroup
    server: EmbeddedPostgres | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Base-backup the primary, start the standby and wait until it accepts read-only connections."""
        if self.primary.port is None or self.primary.child is None:
            raise PostgresError("cannot create a replica: the primary PostgreSQL is not running")
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise PostgresError(f"cannot create a replica in {self.data_dir}: the directory is not empty")
        data_dir, user = server_dir(self.data_dir)
        argv = [
            str(pg_bin_dir() / "pg_basebackup"),
            "--host=127.0.0.1", f"--port={self.primary.port}", f"--username={PG_USER}",
            f"--pgdata={data_dir}", "--write-recovery-conf", "--wal-method=stream",
            "--checkpoint=fast", "--no-sync",
        ]  # fmt: skip
        env = {**os.environ, "PGPASSWORD": self.primary.password or ""}  # never on the command line
        done = subprocess.run(argv, user=user, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise PostgresError(
                f"pg_basebackup of the primary on port {self.primary.port} failed: {done.stderr.strip()}"
            )
        data_dir.chmod(0o700)
        self.server = EmbeddedPostgres(
            self.data_dir,
            self.group,
            settings=dict(REPLICA_SETTINGS),
            name="postgres-replica",
            password=self.primary.password,  # a base backup: the primary's roles and passwords
        )
        self.server.start(timeout)

    def dsn_for(self, database: str) -> str:
        if self.server is None:
            raise PostgresError("the replica is not running")
        return self.server.dsn_for(database)

    def wait_caught_up(self, database: str, timeout: float = 30.0) -> float:
        """Wait until the replica has replayed everything the primary wrote so far; return the seconds waited."""
        import asyncio

        import asyncpg

        async def run() -> float:
            started = time.monotonic()
            primary = await asyncpg.connect(self.primary.dsn_for(database))
            replica = await asyncpg.connect(self.dsn_for(database))
            try:
                target = await primary.fetchval("SELECT pg_current_wal_lsn()")
                while time.monotonic() - started < timeout:
                    if await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", target):
                        return time.monotonic() - started
                    await asyncio.sleep(0.05)
            finally:
                await primary.close()
                await replica.close()
            raise PostgresError(f"the replica did not catch up with the primary in {timeout:.0f} s")

        return asyncio.run(run())

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
