"""Locating the PostgreSQL client programs, rewriting DSNs to name another database, and passing a DSN to
them without its password on the command line (any local user can read another's argv)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from system_under_test.backup.errors import BackupError

_URI_SCHEMES = ("postgresql", "postgres")


def pg_bin_dir() -> Path:
    """Directory holding pg_dump and pg_restore: $ATHBENCH_PG_BIN, else pgserver's build, else PATH."""
    override = os.environ.get("ATHBENCH_PG_BIN")
    if override:
        path = Path(override)
        if not (path / "pg_dump").exists():
            raise BackupError(f"ATHBENCH_PG_BIN={override} does not contain pg_dump")
        return path
    spec = importlib.util.find_spec("pgserver")  # located, not imported (its import only warns and takes time)
    if spec is not None and spec.submodule_search_locations:
        path = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
        if (path / "pg_dump").exists():
            return path
    found = shutil.which("pg_dump")
    if found is None:
        raise BackupError("pg_dump not found: set ATHBENCH_PG_BIN or install pgserver / the PostgreSQL client")
    return Path(found).parent


def pg_program(name: str, bin_dir: Path | None = None) -> str:
    """Full path of a PostgreSQL program (`pg_dump`, `pg_restore`) in `bin_dir` (default: pg_bin_dir())."""
    path = (bin_dir or pg_bin_dir()) / name
    if not path.exists():
        raise BackupError(f"{name} not found in {path.parent}")
    return str(path)


def _split_uri(dsn: str):
    parts = urlsplit(dsn)
    if parts.scheme not in _URI_SCHEMES:
        raise BackupError(f"expected a postgresql:// URI as DSN, got {dsn.split('@')[-1]!r}")
    return parts


def database_of(dsn: str) -> str:
    """The database a postgresql:// DSN names (`postgres` when it names none)."""
    path = _split_uri(dsn).path.lstrip("/")
    return unquote(path) or "postgres"


def with_database(dsn: str, database: str) -> str:
    """The same postgresql:// DSN pointing at another database."""
    parts = _split_uri(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def quote_ident(name: str) -> str:
    """An SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def client_connection(dsn: str, base_env: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """`(dsn_without_password, env)` for a libpq client program: the password goes into the child's
    environment (`PGPASSWORD`), never onto its command line."""
    parts = _split_uri(dsn)
    env = dict(os.environ if base_env is None else base_env)
    if parts.password is None:
        return dsn, env
    env["PGPASSWORD"] = unquote(parts.password)
    userinfo = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}")), env
