"""Interrupted backups leave nothing that looks complete, and the next run removes their leftovers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.errors import BackupError
from system_under_test.backup.files import open_partial, partial_path, remove_stale_partials
from system_under_test.backup.manifest import list_backups
from system_under_test.backup.throttle import TokenBucket
from tests.backup_support import backup_files, seed_small

# A slow backup: 4 KiB chunks through a 40 KB/s bucket, so a few hundred KB of dump take seconds.
SLOW = BackupOptions(profile="optimized", chunk_bytes=4096)
REPO = Path(__file__).resolve().parents[1]


def slow_bucket() -> TokenBucket:
    return TokenBucket(40_000, burst=4096)


@pytest.fixture
async def seeded_dsn(fresh_db_dsn: str) -> str:
    await seed_small(fresh_db_dsn)
    return fresh_db_dsn


async def wait_midway(directory: Path, bucket: TokenBucket | None = None, timeout: float = 20.0) -> None:
    """Until the temporary file exists and (with `bucket`) the throttled stream is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = directory.exists() and any(directory.glob(".*.partial"))
        if started and (bucket is None or bucket.waited_s > 0):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no backup under way in {directory} after {timeout} s")


def pg_dump_children() -> list[psutil.Process]:
    """This process's pg_dump descendants still alive (a child that exits while they are listed is gone)."""
    alive = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name() == "pg_dump":
                alive.append(child)
    return alive


async def test_cancelled_backup_kills_pg_dump_and_leaves_no_file(seeded_dsn: str, pg_bin: Path, tmp_path: Path) -> None:
    bucket = slow_bucket()
    task = asyncio.create_task(run_backup(seeded_dsn, tmp_path, SLOW, bucket=bucket, pg_bin=pg_bin))
    await wait_midway(tmp_path, bucket)
    assert pg_dump_children()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backup_files(tmp_path) == []
    assert pg_dump_children() == []


async def test_killed_pg_dump_fails_the_backup_and_leaves_no_file(
    seeded_dsn: str, pg_bin: Path, tmp_path: Path
) -> None:
    bucket = slow_bucket()
    task = asyncio.create_task(run_backup(seeded_dsn, tmp_path, SLOW, bucket=bucket, pg_bin=pg_bin))
    await wait_midway(tmp_path, bucket)
    for proc in pg_dump_children():
        proc.kill()
    with pytest.raises(BackupError, match="pg_dump exited with code -9"):
        await task
    assert backup_files(tmp_path) == []


async def group_gone(pgid: int, timeout_s: float = 10.0) -> None:
    """Wait until no process of group `pgid` is left (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"process group {pgid} still has members after {timeout_s} s")


async def test_backup_process_killed_midway_is_cleaned_up_by_the_next_run(
    seeded_dsn: str, pg_bin: Path, tmp_path: Path
) -> None:
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from system_under_test.backup.dump import BackupOptions, run_backup\n"
        "from system_under_test.backup.throttle import TokenBucket\n"
        "asyncio.run(run_backup(sys.argv[1], Path(sys.argv[2]), BackupOptions(chunk_bytes=4096),\n"
        "                       bucket=TokenBucket(40_000, burst=4096)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "ATHBENCH_PG_BIN": str(pg_bin)}
    child = subprocess.Popen([sys.executable, "-c", script, seeded_dsn, str(tmp_path)], env=env, start_new_session=True)
    try:
        await wait_midway(tmp_path)
        await asyncio.sleep(1.0)  # the whole dump takes several seconds at 40 KB/s
        assert child.poll() is None, "the backup finished before it could be killed"
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the backup process and its pg_dump, mid-write
        child.wait(timeout=10)
        await group_gone(child.pid)  # a writer still dying holds its lock: its file is then not stale yet

    leftovers = backup_files(tmp_path)
    assert leftovers and all(name.startswith(".") and name.endswith(".partial") for name in leftovers)
    assert list_backups(tmp_path) == []

    manifest = await run_backup(seeded_dsn, tmp_path, pg_bin=pg_bin)

    assert backup_files(tmp_path) == sorted([manifest.file, f"{manifest.backup_id}.manifest.json"])


def test_cleanup_spares_a_temporary_file_whose_writer_is_alive(tmp_path: Path) -> None:
    final = tmp_path / "db-1.dump.zst"
    handle = open_partial(final)
    try:
        assert remove_stale_partials(tmp_path) == []
        assert partial_path(final).exists()
    finally:
        handle.close()
    assert remove_stale_partials(tmp_path) == [partial_path(final)]
