"""Retention: keep the newest `keep_count` backups and none older than `max_age`, except that the
newest verified backup is never deleted (without it there is nothing proven to restore)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from system_under_test.backup.errors import BackupError
from system_under_test.backup.manifest import Manifest, list_backups, manifest_path, newest_verified


@dataclass(frozen=True)
class RetentionPolicy:
    """Delete a backup when it is not among the newest `keep_count` or older than `max_age`."""

    keep_count: int = 7
    max_age: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.keep_count < 1:
            raise BackupError(f"retention must keep at least 1 backup, got keep_count={self.keep_count}")
        if self.max_age <= timedelta(0):
            raise BackupError(f"retention max age must be positive, got {self.max_age}")


def select_expired(manifests: list[Manifest], policy: RetentionPolicy, now: datetime | None = None) -> list[Manifest]:
    """The backups `policy` deletes, oldest first; never the newest verified one."""
    now = now or datetime.now(UTC)
    protected = newest_verified(manifests)
    newest_first = sorted(manifests, key=lambda m: (m.finished_at, m.backup_id), reverse=True)
    expired = [
        manifest
        for rank, manifest in enumerate(newest_first)
        if (rank >= policy.keep_count or now - manifest.finished > policy.max_age)
        and (protected is None or manifest.backup_id != protected.backup_id)
    ]
    return expired[::-1]


def apply_retention(directory: Path, policy: RetentionPolicy, now: datetime | None = None) -> list[str]:
    """Delete expired backups from `directory` (data file first, then manifest); return their ids."""
    deleted: list[str] = []
    for manifest in select_expired(list_backups(directory), policy, now):
        (directory / manifest.file).unlink(missing_ok=True)
        manifest_path(directory, manifest.backup_id).unlink(missing_ok=True)
        deleted.append(manifest.backup_id)
    return deleted
