"""PgBouncer in front of PostgreSQL (optional; the distribution's `pgbouncer` package, used by the
`connection_pooling` scenario).

Transaction pooling: a server connection is lent to a client only for one transaction, so many client
connections share a few server connections. PgBouncer before 1.21 does not track prepared statements in
that mode: asyncpg must then run with `statement_cache_size=0` (the service's
`ATHBENCH_DB_STATEMENT_CACHE_SIZE=0`). PgBouncer refuses to run as root; it then runs as the same
unprivileged user as the embedded PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from harness.postgres import PG_USER, PostgresError, pg_bin_dir
from harness.processes import Child, ProcessError, ProcessGroup, free_port, wait_for_port
from harness.server_user import SYSTEM_USER, server_dir

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {auth_file}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = {max_clients}
admin_users = {admin}
ignore_startup_parameters = extra_float_digits
server_reset_query =
"""


def pgbouncer_binary() -> Path:
    """The `pgbouncer` program, or a PostgresError saying how to install it."""
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
    if found is None:
        raise PostgresError("pgbouncer not found: install the distribution's package (apt-get install -y pgbouncer)")
    return Path(found)


@dataclass
class PgBouncer:
    """PgBouncer on 127.0.0.1 in front of the PostgreSQL that `upstream_dsn` names."""

    upstream_dsn: str
    work_dir: Path
    group: ProcessGroup
    pool_size: int = 10
    pool_mode: str = "transaction"
    max_clients: int = 1000
    port: int | None = None
    child: Child | None = None
    password: str = ""  # the upstream's, which clients also give PgBouncer

    def start(self, timeout: float = 30.0) -> None:
        """Write the configuration and start PgBouncer; wait until it listens."""
        if self.pool_mode not in ("session", "transaction"):
            raise PostgresError(f"unknown PgBouncer pool mode {self.pool_mode!r}: use session or transaction")
        if self.pool_size < 1:
            raise PostgresError(f"PgBouncer pool size must be at least 1, got {self.pool_size}")
        where = urlsplit(self.upstream_dsn)
        work_dir, user = server_dir(self.work_dir)
        self.port = free_port()
        auth_file = work_dir / "users.txt"
        # the upstream superuser's password, in plain text so PgBouncer can log in to the server with SCRAM;
        # clients log in to PgBouncer with the same password (the file is readable by the server user only)
        self.password = unquote(where.password or "")
        auth_file.write_text(f'"{PG_USER}" "{self.password}"\n')
        config = work_dir / "pgbouncer.ini"
        config.write_text(
            CONFIG.format(
                host=where.hostname or "127.0.0.1",
                port=where.port or 5432,
                listen_port=self.port,
                auth_file=auth_file,
                pool_mode=self.pool_mode,
                pool_size=self.pool_size,
                max_clients=self.max_clients,
                admin=PG_USER,
            )
        )
        auth_file.chmod(0o600)
        if user is not None:
            for path in (auth_file, config):
                shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
        binary = pgbouncer_binary()
        self.child = self.group.start("pgbouncer", [str(binary), str(config)], user=user)
        try:
            wait_for_port(self.port, timeout=timeout, proc=self.child)
        except ProcessError as exc:
            raise PostgresError(f"PgBouncer did not start: {exc}") from exc

    def dsn_for(self, database: str) -> str:
        if self.port is None:
            raise PostgresError("PgBouncer is not running")
        secret = f":{quote(self.password, safe='')}" if self.password else ""
        return f"postgresql://{PG_USER}{secret}@127.0.0.1:{self.port}/{database}"

    def server_connections(self, database: str) -> int:
        """Server connections PgBouncer holds to `database` now (from its admin console, `SHOW POOLS`)."""
        env = {**os.environ, "PGPASSWORD": self.password}  # never on the command line
        dsn = f"postgresql://{PG_USER}@127.0.0.1:{self.port}/pgbouncer"
        psql = [str(pg_bin_dir() / "psql"), "-X", "-A", "-F", ",", "-P", "footer=off", dsn]
        done = subprocess.run([*psql, "-c", "SHOW POOLS"], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresError(f"SHOW POOLS on PgBouncer failed: {done.stderr.strip()}")
        header, *rows = (line.split(",") for line in done.stdout.splitlines())
        server_columns = [i for i, name in enumerate(header) if name.startswith("sv_") and "cancel" not in name]
        return sum(int(row[i]) for row in rows if row[0] == database for i in server_columns)

    def stop(self) -> None:
        if self.child is not None:
            self.group.remove(self.child)
            self.child = None
