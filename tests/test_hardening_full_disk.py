"""A backup into a full disk (a 1 MiB tmpfs) fails with a clear error and loses nothing already there.

Needs root (to mount the tmpfs); skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.errors import BackupError
from system_under_test.backup.manifest import list_backups
from system_under_test.backup.restore import check_file
from tests.backup_support import backup_files, seed_small

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

HEADROOM = 16 * 1024  # free bytes left on the disk before the second backup


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(disk: Path, leave_free: int) -> None:
    """Write a filler file until only about `leave_free` bytes remain on `disk`."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave_free))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("profile", ["baseline", "optimized"])
async def test_backup_into_a_full_disk_fails_cleanly(
    fresh_db_dsn: str, pg_bin: Path, tiny_disk: Path, profile: str
) -> None:
    await seed_small(fresh_db_dsn)
    backups = tiny_disk / "backups"
    # 4 KiB chunks also shrink the pipe from pg_dump to 4 KiB: a writer that stops reading must not hang it
    options = BackupOptions(profile=profile, chunk_bytes=4096)
    first = await run_backup(fresh_db_dsn, backups, options, pg_bin=pg_bin)
    before = backup_files(backups)
    fill(tiny_disk, HEADROOM)
    assert first.bytes_compressed > 2 * HEADROOM  # the second backup cannot fit

    with pytest.raises(BackupError) as failure:
        await run_backup(fresh_db_dsn, backups, options, pg_bin=pg_bin)

    message = str(failure.value)
    assert "no space left" in message.lower() and str(backups) in message, message
    assert backup_files(backups) == before  # nothing half-written, no stray temporary file
    assert [m.backup_id for m in list_backups(backups)] == [first.backup_id]
    check_file(backups, first)  # the earlier backup is intact (size and SHA-256 match its manifest)
