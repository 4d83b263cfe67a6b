"""Backup configuration of the service. The core values (DSN, directory, profile, pg bin) come from the
service's `Settings`; the backup-specific knobs from these environment variables:

| variable | meaning | default |
|---|---|---|
| `ATHBENCH_BACKUP_INTERVAL` | seconds between scheduled backups; 0 = no schedule | 0 (off) |
| `ATHBENCH_BACKUP_VERIFY` | `1`: run a restore drill after each scheduled backup | 1 |
| `ATHBENCH_BACKUP_RATE_MB_S` | optimized: raw dump MB/s (a token bucket in the service); 0 = unlimited | 0 |
| `ATHBENCH_BACKUP_MAX_CONCURRENT` | optimized: backups allowed at once | 1 |
| `ATHBENCH_BACKUP_ZSTD_LEVEL` | optimized: zstd level (1..22) | 3 |
| `ATHBENCH_BACKUP_ZSTD_THREADS` | optimized: zstd worker threads (-1 = all CPUs, 0 = none) | -1 |
| `ATHBENCH_BACKUP_KEEP` | retention: the newest N backups kept (never fewer, whatever their age) | 7 |
| `ATHBENCH_BACKUP_RPO_TARGET_S` | `/health` warns when the newest verified backup is older | 3600 |
| `ATHBENCH_BACKUP_RESTORE_JOBS` | `pg_restore -j` of restore drills | 2 |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from system_under_test.backup.dump import PROFILES, BackupOptions
from system_under_test.backup.errors import BackupError
from system_under_test.backup.retention import RetentionPolicy

MB = 1_000_000
#: Unlimited: a paced backup's bytes pass through a thread of the service (the token bucket), which cost
#: live traffic more than the pace saved. At 1,000,000 properties (50 req/s of cache hits, n = 5 each),
#: live p95 during a backup over without: 2.3-2.6x unpaced through that thread, 1.42x piped straight to
#: the compressor (backup 1.37x the raw dump); at 100,000 (quick pack, n = 3 each): 2.06x at 20 MB/s
#: (backup 2.6x the raw dump), 1.46x unpaced (1.8x).
DEFAULT_RATE_MB_S = 0.0


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BackupError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise BackupError(f"{name} must be a number >= {minimum}, got {raw!r}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _number(env, name, default, minimum)
    if value != int(value):
        raise BackupError(f"{name} must be a whole number, got {value}")
    return int(value)


@dataclass(frozen=True)
class BackupConfig:
    """How the service takes, keeps and checks backups."""

    dsn: str
    backup_dir: Path
    profile: str = "optimized"
    pg_bin: Path | None = None
    interval_s: float = 0.0
    verify_scheduled: bool = True
    rate_bytes_s: float = DEFAULT_RATE_MB_S * MB
    max_concurrent: int = 1
    zstd_level: int = 3
    zstd_threads: int = -1
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    rpo_target_s: float = 3600.0
    restore_jobs: int = 2

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise BackupError(f"unknown backup profile {self.profile!r}; expected one of {PROFILES}")
        _ = self.options  # validates the zstd level at start-up, not at the first backup

    @property
    def options(self) -> BackupOptions:
        return BackupOptions(
            profile=self.profile,  # type: ignore[arg-type]
            zstd_level=self.zstd_level,
            zstd_threads=self.zstd_threads,
        )

    @classmethod
    def from_env(
        cls,
        *,
        dsn: str,
        backup_dir: Path,
        profile: str,
        pg_bin: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> BackupConfig:
        """The configuration for these core values plus the `ATHBENCH_BACKUP_*` knobs in `env`."""
        env = os.environ if env is None else env
        verify = env.get("ATHBENCH_BACKUP_VERIFY", "1").strip().lower()
        if verify not in ("0", "1", "true", "false"):
            raise BackupError(f"ATHBENCH_BACKUP_VERIFY must be 1 or 0, got {verify!r}")
        return cls(
            dsn=dsn,
            backup_dir=backup_dir,
            profile=profile,
            pg_bin=pg_bin,
            interval_s=_number(env, "ATHBENCH_BACKUP_INTERVAL", 0.0, 0.0),
            verify_scheduled=verify in ("1", "true"),
            rate_bytes_s=_number(env, "ATHBENCH_BACKUP_RATE_MB_S", DEFAULT_RATE_MB_S, 0.0) * MB,
            max_concurrent=_whole(env, "ATHBENCH_BACKUP_MAX_CONCURRENT", 1, 1),
            zstd_level=_whole(env, "ATHBENCH_BACKUP_ZSTD_LEVEL", 3, 1),
            zstd_threads=_whole(env, "ATHBENCH_BACKUP_ZSTD_THREADS", -1, -1),
            retention=RetentionPolicy(keep_count=_whole(env, "ATHBENCH_BACKUP_KEEP", 7, 1)),
            rpo_target_s=_number(env, "ATHBENCH_BACKUP_RPO_TARGET_S", 3600.0, 1.0),
            restore_jobs=_whole(env, "ATHBENCH_BACKUP_RESTORE_JOBS", 2, 1),
        )
