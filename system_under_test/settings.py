"""Service configuration, read once from environment variables (`Settings.from_env()`).

| variable | meaning | default |
|---|---|---|
| `ATHBENCH_POSTGRES_DSN` | PostgreSQL DSN | required |
| `ATHBENCH_POSTGRES_REPLICA_DSN` | streaming read replica: read-only endpoint queries go there | none |
| `ATHBENCH_REDIS_URL` | Redis URL | required |
| `ATHBENCH_UPSTREAM_URL` | market-data upstream base URL | none |
| `ATHBENCH_PROFILE` | `baseline` or `optimized` | `optimized` |
| `ATHBENCH_HEALTH_INTERVAL` | seconds between health-loop rounds | 30 baseline / 15 optimized |
| `ATHBENCH_ADMIN_TOKEN` | bearer token for state-changing endpoints | none: admin endpoints refuse |
| `ATHBENCH_BACKUP_DIR` | where backups go | none: backups disabled |
| `ATHBENCH_PG_BIN` | directory with pg_dump / pg_restore | none: found elsewhere |
| `ATHBENCH_TEST_KNOBS` | `1` mounts the test-only delay / CPU-burn knob | off |
| `ATHBENCH_DB_POOL_SIZE` | maximum connections in the asyncpg pool | 10 |
| `ATHBENCH_DB_STATEMENT_CACHE_SIZE` | asyncpg prepared-statement cache; 0 behind PgBouncer (transaction mode) | 100 |
| `ATHBENCH_MAX_BODY_BYTES` | largest request body accepted (413 above) | 65536 |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

Profile = Literal["baseline", "optimized"]
PROFILES: tuple[Profile, ...] = ("baseline", "optimized")
DEFAULT_HEALTH_INTERVAL_S: dict[Profile, float] = {"baseline": 30.0, "optimized": 15.0}


class SettingsError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is required but not set")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _optional(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SettingsError(f"{name} must be a positive number, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment."""

    postgres_dsn: str
    redis_url: str
    upstream_url: str | None = None
    postgres_replica_dsn: str | None = None
    profile: Profile = "optimized"
    health_interval_s: float = DEFAULT_HEALTH_INTERVAL_S["optimized"]
    admin_token: str | None = None
    backup_dir: Path | None = None
    pg_bin: Path | None = None
    test_knobs: bool = False
    db_pool_size: int = 10
    max_body_bytes: int = 64 * 1024
    db_statement_cache_size: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default `os.environ`); raise SettingsError naming a bad variable."""
        env = os.environ if env is None else env
        raw_profile = (_optional(env, "ATHBENCH_PROFILE") or "optimized").lower()
        if raw_profile not in PROFILES:
            raise SettingsError(f"ATHBENCH_PROFILE must be one of {', '.join(PROFILES)}, got {raw_profile!r}")
        profile = cast(Profile, raw_profile)
        knobs = (_optional(env, "ATHBENCH_TEST_KNOBS") or "0").lower()
        if knobs not in ("0", "1", "true", "false"):
            raise SettingsError(f"ATHBENCH_TEST_KNOBS must be 1 or 0, got {knobs!r}")
        pool_size = _positive_number(env, "ATHBENCH_DB_POOL_SIZE", 10)
        if pool_size != int(pool_size):
            raise SettingsError(f"ATHBENCH_DB_POOL_SIZE must be a whole number, got {pool_size}")
        max_body = _positive_number(env, "ATHBENCH_MAX_BODY_BYTES", 64 * 1024)
        if max_body != int(max_body):
            raise SettingsError(f"ATHBENCH_MAX_BODY_BYTES must be a whole number of bytes, got {max_body}")
        cache_size = _optional(env, "ATHBENCH_DB_STATEMENT_CACHE_SIZE") or "100"
        if not cache_size.isdigit():
            raise SettingsError(f"ATHBENCH_DB_STATEMENT_CACHE_SIZE must be a whole number >= 0, got {cache_size!r}")
        backup_dir = _optional(env, "ATHBENCH_BACKUP_DIR")
        pg_bin = _optional(env, "ATHBENCH_PG_BIN")
        return cls(
            postgres_dsn=_required(env, "ATHBENCH_POSTGRES_DSN"),
            redis_url=_required(env, "ATHBENCH_REDIS_URL"),
            upstream_url=_optional(env, "ATHBENCH_UPSTREAM_URL"),
            postgres_replica_dsn=_optional(env, "ATHBENCH_POSTGRES_REPLICA_DSN"),
            profile=profile,
            health_interval_s=_positive_number(env, "ATHBENCH_HEALTH_INTERVAL", DEFAULT_HEALTH_INTERVAL_S[profile]),
            admin_token=_optional(env, "ATHBENCH_ADMIN_TOKEN"),
            backup_dir=Path(backup_dir) if backup_dir else None,
            pg_bin=Path(pg_bin) if pg_bin else None,
            test_knobs=knobs in ("1", "true"),
            db_pool_size=int(pool_size),
            max_body_bytes=int(max_body),
            db_statement_cache_size=int(cache_size),
        )
