"""The optimized backup compresses in a separate process; it and pg_dump run under SCHED_IDLE at nice 19,
the two PostgreSQL backends serving the backup at nice 19 (all in the idle I/O class); the file it writes
is the same checksummed zstd frame restore reads."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import asyncpg
import psutil
import pytest
import zstandard

from system_under_test.backup import dump, priority
from system_under_test.backup.compressor import Compressor, finish_compressor, start_compressor
from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.priority import BACKGROUND_NICE
from system_under_test.backup.restore import check_file
from system_under_test.backup.throttle import TokenBucket
from tests.backup_support import seed_small


def nice_of(pid: int) -> int:
    """Field 19 of /proc/PID/stat (after the parenthesized command name)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def priority_of(pid: int) -> tuple[int, bool]:
    """(nice, whether the scheduling policy is SCHED_IDLE)."""
    return nice_of(pid), os.sched_getscheduler(pid) == os.SCHED_IDLE


LOWEST = (BACKGROUND_NICE, True)
BACKEND = (BACKGROUND_NICE, False)  # a backend holds locks other backends wait for: not SCHED_IDLE


def test_compressor_is_another_process_with_a_higher_nice_value_and_writes_a_zstd_frame(tmp_path: Path) -> None:
    data = b"property\t1\tdetached house\n" * 200_000
    with open(tmp_path / "out.zst", "wb") as handle:
        compressor = start_compressor(handle.fileno(), level=3, threads=0)
        compressor.stdin.write(data)
        compressor.stdin.flush()
        pid = compressor.process.pid
        assert pid != os.getpid()
        assert priority_of(pid) == LOWEST
        if shutil.which("ionice"):
            assert "idle" in subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True).stdout
        report = finish_compressor(compressor)
    written = (tmp_path / "out.zst").read_bytes()
    assert report == {"raw": len(data), "written": len(written), "sha256": hashlib.sha256(written).hexdigest()}
    assert zstandard.ZstdDecompressor().decompressobj().decompress(written) == data


def test_a_failing_compressor_is_an_error_not_a_backup(tmp_path: Path) -> None:
    with open(tmp_path / "out.zst", "wb") as handle, open("/dev/full", "wb") as full:
        compressor = start_compressor(full.fileno(), level=3, threads=0)
        compressor.stdin.write(os.urandom(1 << 20))
        with pytest.raises(OSError, match="backup compressor"):
            finish_compressor(compressor)
        assert handle.tell() == 0


async def test_optimized_backup_runs_every_process_doing_its_work_at_the_lowest_priority(
    fresh_db_dsn: str, pg_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_small(fresh_db_dsn)
    seen: list[tuple[int, int]] = []

    def observed_finish(compressor: Compressor) -> dict[str, object]:
        seen.append((compressor.process.pid, priority_of(compressor.process.pid)))  # alive: waiting for EOF
        return finish_compressor(compressor)

    lowered: list[tuple[str, tuple[int, bool]]] = []
    real_lower = dump.lower_priority

    def observed_lower(pid: int = 0) -> bool:
        done = real_lower(pid)
        lowered.append((Path(f"/proc/{pid}/exe").resolve().name, priority_of(pid)))  # just spawned: alive
        return done

    backends: list[tuple[str, tuple[int, bool]]] = []
    real_lower_backends = dump.lower_backends

    async def observed_lower_backends(conn, application_name: str, wait_s: float = 2.0) -> dict[int, bool]:
        done = await real_lower_backends(conn, application_name, wait_s)
        backends.extend((psutil.Process(pid).name(), priority_of(pid)) for pid in done)  # both still connected
        return done

    monkeypatch.setattr(dump, "finish_compressor", observed_finish)
    monkeypatch.setattr(dump, "lower_priority", observed_lower)
    monkeypatch.setattr(dump, "lower_backends", observed_lower_backends)
    # a throttled stream keeps pg_dump (and its backend) connected while the backends are looked up
    manifest = await run_backup(
        fresh_db_dsn, tmp_path, BackupOptions(profile="optimized"), bucket=TokenBucket(2_000_000), pg_bin=pg_bin
    )
    [(pid, niceness)] = seen
    assert pid != os.getpid() and niceness == LOWEST
    # pg_dump runs at the same lowest priority as the compressor (its CPU is not live traffic's to share)
    assert lowered == [("pg_dump", LOWEST)]
    # and so do the server's two backends doing the backup's work: pg_dump's COPYs and the checksums
    assert len(backends) == 2 and all(name.startswith("postgres") for name, _ in backends), backends
    assert [priority for _, priority in backends] == [BACKEND] * 2
    assert manifest.compression["postgres_backends_lowered"] == 2
    assert manifest.compression["process"].startswith("separate")
    check_file(tmp_path, manifest)  # size and SHA-256 as reported by the compressor


async def test_a_backend_on_another_machine_is_left_alone(fresh_db_dsn: str) -> None:
    """Only a local postgres process that started when PostgreSQL says its backend did is lowered: an
    unrelated process with the same PID (another machine's, or another PID namespace's) is not."""
    conn = await asyncpg.connect(fresh_db_dsn)
    try:
        pid, started = await conn.fetchrow(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        assert priority._local_backend(pid, started)
        assert not priority._local_backend(os.getpid(), started)  # not a postgres process
        assert not priority._local_backend(pid, started - timedelta(minutes=5))  # another process's start
        assert priority_of(pid) == (0, False)  # looking does not lower anything
    finally:
        await conn.close()


async def test_an_unthrottled_backup_pipes_pg_dump_straight_to_the_compressor(
    fresh_db_dsn: str, pg_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No byte of an unthrottled backup passes through the service (the compressor reads pg_dump's pipe and
    counts the raw bytes); a throttled one is copied through the service's token bucket. Same counts."""
    await seed_small(fresh_db_dsn)
    copied: list[int] = []
    real_copy = dump._copy_stream

    def observed_copy(*args: object) -> int:
        copied.append(real_copy(*args))  # type: ignore[arg-type]
        return copied[-1]

    monkeypatch.setattr(dump, "_copy_stream", observed_copy)
    options = BackupOptions(profile="optimized")
    direct = await run_backup(fresh_db_dsn, tmp_path / "direct", options, pg_bin=pg_bin)
    assert copied == []
    throttled = await run_backup(
        fresh_db_dsn, tmp_path / "throttled", options, bucket=TokenBucket(100_000_000), pg_bin=pg_bin
    )
    assert copied == [throttled.bytes_raw]
    assert direct.bytes_raw == throttled.bytes_raw > 0  # one database, one dump size, however it was counted
    check_file(tmp_path / "direct", direct)
    check_file(tmp_path / "throttled", throttled)
