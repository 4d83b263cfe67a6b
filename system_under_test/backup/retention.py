"""Retention: keep the newest `keep_count` backups, and never delete the newest verified backup (without
it there is nothing proven to restore).

The count is a floor as well as a cap: no backup among the newest `keep_count` is deleted, whatever its
age (an age limit would let the first backup after a long pause delete every older one). Retention is
applied by the process that took a backup, and waits for a running restore drill (`BackupService`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from system_under_test.backup.errors import BackupError
from system_under_test.backup.manifest import Manifest, list_backups, manifest_path, newest_verified


@dataclass(frozen=True)
class RetentionPolicy:
    """Delete a backup when it is not among the newest `keep_count`."""

    keep_count: int = 7

    def __post_init__(self) -> None:
        if self.keep_count < 1:
            raise BackupError(f"retention must keep at least 1 backup, got keep_count={self.keep_count}")


def select_expired(manifests: list[Manifest], policy: RetentionPolicy) -> list[Manifest]:
    """The backups `policy` deletes, oldest first; never one of the newest `keep_count`, never the newest
    verified one."""
    protected = newest_verified(manifests)
    newest_first = sorted(manifests, key=lambda m: (m.finished_at, m.backup_id), reverse=True)
    expired = [
        manifest
        for manifest in newest_first[policy.keep_count :]
        if protected is None or manifest.backup_id != protected.backup_id
    ]
    return expired[::-1]


def apply_retention(directory: Path, policy: RetentionPolicy) -> list[str]:
    """Delete expired backups from `directory` (data file first, then manifest); return their ids."""
    deleted: list[str] = []
    for manifest in select_expired(list_backups(directory), policy):
        (directory / manifest.file).unlink(missing_ok=True)
        manifest_path(directory, manifest.backup_id).unlink(missing_ok=True)
        deleted.append(manifest.backup_id)
    return deleted
