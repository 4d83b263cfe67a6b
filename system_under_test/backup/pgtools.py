"""Locating the PostgreSQL client programs and rewriting DSNs to name another database."""

from __future__ import annotations

import os
import shutil
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
    try:
        import pgserver
    except ImportError:
        pgserver = None
    if pgserver is not None:
        path = Path(pgserver.__file__).parent / "pginstall" / "bin"
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
