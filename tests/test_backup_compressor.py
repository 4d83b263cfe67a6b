"""The optimized backup compresses in a separate process with a higher nice value (and the idle I/O class),
and the file it writes is the same checksummed zstd frame restore reads."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from system_under_test.backup import dump
from system_under_test.backup.compressor import NICE_INCREMENT, Compressor, finish_compressor, start_compressor
from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.restore import check_file
from tests.backup_support import seed_small


def nice_of(pid: int) -> int:
    """Field 19 of /proc/PID/stat (after the parenthesized command name)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_compressor_is_another_process_with_a_higher_nice_value_and_writes_a_zstd_frame(tmp_path: Path) -> None:
    data = b"property\t1\tdetached house\n" * 200_000
    with open(tmp_path / "out.zst", "wb") as handle:
        compressor = start_compressor(handle.fileno(), level=3, threads=0)
        compressor.stdin.write(data)
        compressor.stdin.flush()
        pid = compressor.process.pid
        assert pid != os.getpid()
        assert nice_of(pid) == nice_of(os.getpid()) + NICE_INCREMENT or nice_of(pid) == 19
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


async def test_optimized_backup_compresses_in_a_lower_priority_process(
    fresh_db_dsn: str, pg_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_small(fresh_db_dsn)
    seen: list[tuple[int, int]] = []

    def observed_finish(compressor: Compressor) -> dict[str, object]:
        seen.append((compressor.process.pid, nice_of(compressor.process.pid)))  # alive: waiting for EOF
        return finish_compressor(compressor)

    lowered: list[tuple[str, int]] = []
    real_lower = dump.lower_priority

    def observed_lower(pid: int = 0, increment: int = NICE_INCREMENT) -> bool:
        done = real_lower(pid, increment)
        lowered.append((Path(f"/proc/{pid}/exe").resolve().name, nice_of(pid)))  # just spawned: alive
        return done

    monkeypatch.setattr(dump, "finish_compressor", observed_finish)
    monkeypatch.setattr(dump, "lower_priority", observed_lower)
    manifest = await run_backup(fresh_db_dsn, tmp_path, BackupOptions(profile="optimized"), pg_bin=pg_bin)
    [(pid, niceness)] = seen
    assert pid != os.getpid() and niceness > nice_of(os.getpid())
    # pg_dump runs at the same lower priority as the compressor (its CPU is not live traffic's to share)
    assert [name for name, _ in lowered] == ["pg_dump"]
    assert all(nice > nice_of(os.getpid()) for _, nice in lowered)
    assert manifest.compression["process"].startswith("separate")
    check_file(tmp_path, manifest)  # size and SHA-256 as reported by the compressor
