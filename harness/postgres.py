"""PostgreSQL for a run: an embedded server from the `pgserver` wheel, or an external one by DSN.

The embedded server is a real PostgreSQL 16 (`initdb` + `postgres` from pgserver's `pginstall/bin`),
listening on 127.0.0.1 only, started as a child of the harness in its own process group. When the harness
runs as root, PostgreSQL refuses to run as root, so the server runs as the unprivileged `pgserver` user
(pgserver's own convention), which is created if missing.

The pgserver build has no contrib modules (no pg_stat_statements, no auto_explain): per-query timing is
measured by the service and by the scenarios themselves.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from harness.processes import Child, ProcessError, ProcessGroup, free_port, port_in_use, wait_for_port
from harness.server_user import server_dir, shared_install

PG_USER = "postgres"


def pg_bin_dir() -> Path:
    """Directory with initdb, postgres, pg_dump, pg_restore: $ATHBENCH_PG_BIN or pgserver's own (as root,
    a copy the server user can reach when pgserver lies below a private directory: `harness.server_user`)."""
    override = os.environ.get("ATHBENCH_PG_BIN")
    if override:
        return Path(override)
    import pgserver

    site = Path(pgserver.__file__).parent.parent  # pginstall's binaries find their libraries in ../pgserver.libs
    return shared_install(site, ["pgserver/pginstall", "pgserver.libs"]) / "pgserver" / "pginstall" / "bin"


class PostgresError(RuntimeError):
    """PostgreSQL could not be started or reached; the message says which and why."""


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL 16 server in `data_dir`, on 127.0.0.1:`port`, owned by `group`."""

    data_dir: Path
    group: ProcessGroup
    port: int | None = None
    settings: dict[str, str] = field(default_factory=dict)
    child: Child | None = None
    name: str = "postgres"  # the process (and log file) name in `group`

    @property
    def dsn(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        """initdb on first use, then start the server and wait until it accepts connections."""
        if self.port is None:
            self.port = free_port()
        elif port_in_use(self.port):
            raise PostgresError(f"cannot start PostgreSQL: port 127.0.0.1:{self.port} is already in use")
        data_dir, user = server_dir(self.data_dir)
        if not (data_dir / "PG_VERSION").exists():
            self._initdb(data_dir, user)
        argv = [
            str(pg_bin_dir() / "postgres"),
            "-D",
            str(data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=256MB",
            "-c",
            "log_min_duration_statement=100",
        ]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        self.child = self.group.start(self.name, argv, user=user)
        try:
            wait_for_port(self.port, timeout=timeout, proc=self.child)
            self._wait_accepting(timeout)
        except ProcessError as exc:
            raise PostgresError(f"embedded PostgreSQL did not start: {exc}") from exc

    def _initdb(self, data_dir: Path, user: str | None) -> None:
        cmd = [
            str(pg_bin_dir() / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ]
        done = subprocess.run(cmd, user=user, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresError(f"initdb failed in {data_dir}:\n{done.stderr.strip() or done.stdout.strip()}")

    def _wait_accepting(self, timeout: float) -> None:
        """The port opens before recovery finishes; wait until pg_isready says the server accepts."""
        deadline = time.monotonic() + timeout
        isready = str(pg_bin_dir() / "pg_isready")
        while time.monotonic() < deadline:
            done = subprocess.run([isready, "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-q"], check=False)
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresError(f"PostgreSQL on port {self.port} did not accept connections in {timeout:.0f}s")

    def stop(self) -> None:
        if self.child is not None:
            self.group.remove(self.child)
            self.child = None

    def version(self) -> str:
        done = subprocess.run([str(pg_bin_dir() / "postgres"), "--version"], capture_output=True, text=True)
        return done.stdout.strip().rsplit(" ", 1)[-1]


def check_reachable(dsn: str, timeout: float = 5.0) -> str:
    """Connect once to an external PostgreSQL; return its server version or raise a clear PostgresError."""
    import asyncio

    import asyncpg

    async def probe() -> str:
        conn = await asyncpg.connect(dsn, timeout=timeout)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    where = urlsplit(dsn)
    try:
        return asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise PostgresError(
            f"cannot reach PostgreSQL at {where.hostname}:{where.port or 5432} (from the given DSN): {exc}"
        ) from exc
