"""Retention keeps the newest N backups whatever their age, and never removes the newest verified one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from system_under_test.backup.checksums import TableState
from system_under_test.backup.errors import BackupError
from system_under_test.backup.manifest import Manifest, Verification, list_backups
from system_under_test.backup.retention import RetentionPolicy, apply_retention, select_expired

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def manifest(days_old: float, verified: bool | None = None, name: str | None = None) -> Manifest:
    finished = NOW - timedelta(days=days_old)
    backup_id = name or f"db-{finished:%Y%m%dT%H%M%S}"
    return Manifest(
        backup_id=backup_id,
        profile="optimized",
        file=f"{backup_id}.dump.zst",
        database="db",
        server_version="16.2",
        started_at=(finished - timedelta(seconds=5)).isoformat(),
        finished_at=finished.isoformat(),
        duration_s=5.0,
        dump_duration_s=4.0,
        bytes_raw=100,
        bytes_compressed=30,
        throughput_mb_s=1.0,
        sha256="0" * 64,
        compression={"algorithm": "zstd", "level": 3, "threads": 0},
        checksum_algorithm="test",
        tables={"public.t": TableState(rows=1, checksum="record:1")},
        verification=None
        if verified is None
        else Verification(finished.isoformat(), verified, 1.0, 0.5, 2, None if verified else "differs"),
    )


def ids(manifests: list[Manifest]) -> list[str]:
    return [m.backup_id for m in manifests]


def test_keeps_the_newest_by_count() -> None:
    backups = [manifest(d, verified=True) for d in (5, 4, 3, 2, 1)]
    assert ids(select_expired(backups, RetentionPolicy(keep_count=3))) == ids(backups[:2])


def test_never_goes_below_the_keep_count_whatever_the_age() -> None:
    """After 40 days without a backup, the first new one deletes none of the 6 older ones (keep 7)."""
    old = [manifest(d, verified=True) for d in (46, 45, 44, 43, 42, 41)]
    first_after_pause = manifest(0.01, verified=None)
    assert select_expired([*old, first_after_pause], RetentionPolicy(keep_count=7)) == []
    second = manifest(0.005, verified=None)
    assert ids(select_expired([*old, first_after_pause, second], RetentionPolicy(keep_count=7))) == ids(old[:1])


def test_never_deletes_the_newest_verified_backup() -> None:
    verified = manifest(10, verified=True)
    newer = [manifest(d, verified=None) for d in (3, 2, 1)]
    newest_failed = manifest(0.5, verified=False)
    expired = select_expired([verified, *newer, newest_failed], RetentionPolicy(keep_count=1))
    assert verified.backup_id not in ids(expired)
    assert ids(expired) == ids(newer)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(BackupError, match="keep at least 1"):
        RetentionPolicy(keep_count=0)


def test_apply_deletes_data_and_manifest_files(tmp_path: Path) -> None:
    backups = [manifest(d, verified=d == 20) for d in (40, 20, 2, 1)]
    for m in backups:
        (tmp_path / m.file).write_bytes(b"x" * 30)
        m.save(tmp_path)

    deleted = apply_retention(tmp_path, RetentionPolicy(keep_count=1))

    assert deleted == [backups[0].backup_id, backups[2].backup_id]
    assert ids(list_backups(tmp_path)) == [backups[1].backup_id, backups[3].backup_id]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        name for m in (backups[1], backups[3]) for name in (m.file, f"{m.backup_id}.manifest.json")
    )
