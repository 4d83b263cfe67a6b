"""PostgreSQL for a run: an embedded server from the `pgserver` wheel, or an external one by DSN.

The embedded server is a real PostgreSQL 16 (`initdb` + `postgres` from pgserver's `pginstall/bin`),
listening on 127.0.0.1 only, started as a child of the harness in its own process group. When the harness
runs as root, PostgreSQL refuses to run as root, so the server runs as the unprivileged `pgserver` user
(pgserver's own convention), which is created if missing.

The superuser has a password (scram-sha-256 on loopback TCP, no Unix socket), made when the data directory
is created and kept beside it (`<data dir>.password`, mode 0600), so another local user cannot connect as
superuser. The server is stopped with its fast shutdown (SIGINT) and waited for.

The pgserver build has no contrib modules (no pg_stat_statements, no auto_explain): per-query timing is
measured by the service and by the scenarios themselves.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from harness.processes import Child, ProcessError, ProcessGroup, free_port, port_in_use, wait_for_port
from harness.server_user import ensure_user, server_dir, shared_install

PG_USER = "postgres"


def pg_bin_dir() -> Path:
    """Directory with initdb, postgres, pg_dump, pg_restore: $ATHBENCH_PG_BIN or pgserver's own (as root,
    a copy the server user can reach when pgserver lies below a private directory: `harness.server_user`)."""
    override = os.environ.get("ATHBENCH_PG_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("pgserver")  # located, not imported: its import warns about XDG_RUNTIME_DIR
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("pgserver is not installed: install athbench's dependencies or set ATHBENCH_PG_BIN")
    site = Path(
        spec.submodule_search_locations[0]
    ).parent  # pginstall's binaries find their libraries in ../pgserver.libs
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
    password: str | None = None  # the superuser's; read from, or made into, `password_file` at start

    @property
    def password_file(self) -> Path:
        return self.data_dir.with_name(self.data_dir.name + ".password")

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return f"postgresql://{PG_USER}{secret}@127.0.0.1:{self.port}/{database}"

    def _ensure_password(self) -> str:
        """The superuser's password: given, kept beside the data directory, or made now (and kept)."""
        if self.password is None and self.password_file.exists():
            self.password = self.password_file.read_text().strip()
        if self.password is None:
            self.password = secrets.token_urlsafe(24)
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.password + "\n")
        return self.password

    def start(self, timeout: float = 60.0) -> None:
        """initdb on first use, then start the server and wait until it accepts connections."""
        if self.port is None:
            self.port = free_port()
        elif port_in_use(self.port):
            raise PostgresError(f"cannot start PostgreSQL: port 127.0.0.1:{self.port} is already in use")
        data_dir, user = server_dir(self.data_dir)
        password = self._ensure_password()
        if not (data_dir / "PG_VERSION").exists():
            self._initdb(data_dir, user, password)
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
        self.child = self.group.start(self.name, argv, user=user, stop_signal=signal.SIGINT)
        try:
            wait_for_port(self.port, timeout=timeout, proc=self.child)
            self._wait_accepting(timeout)
        except ProcessError as exc:
            raise PostgresError(f"embedded PostgreSQL did not start: {exc}") from exc

    def _initdb(self, data_dir: Path, user: str | None, password: str) -> None:
        # the password reaches initdb in a file only the server user can read, removed right after
        fd, pwfile = tempfile.mkstemp(prefix="athbench-pw-")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            if user is not None:
                uid, gid = ensure_user()
                os.chown(pwfile, uid, gid)
            cmd = [
                str(pg_bin_dir() / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--no-sync",
            ]
            done = subprocess.run(cmd, user=user, capture_output=True, text=True, check=False)
        finally:
            os.unlink(pwfile)
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
