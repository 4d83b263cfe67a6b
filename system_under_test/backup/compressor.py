"""The backup compressor: a separate, low-priority process that zstd-compresses stdin to stdout.

`python -m system_under_test.backup.compressor --level 3 --threads -1` reads the raw dump on stdin and
writes one zstd frame (with its checksum, the format restore reads) to stdout, which is the backup's
partial file. The service lowers its priority (nice 19, and the idle I/O class where the kernel has one:
`backup/priority.py`) the moment it is spawned, so even the interpreter's start-up and imports, a large
share of a short backup's CPU, only use CPU and disk time live traffic leaves over; pg_dump and the
PostgreSQL backends serving the backup get the same treatment (from `dump.py`). At the end it prints one JSON
line on stderr: `{"raw": bytes read, "written": bytes written, "sha256": hex digest of the written bytes}`,
or, when writing failed, `{"errno": n, "error": "..."}` and exits 1 (a full disk stays recognizable).

`start_compressor` launches it from the service; `finish_compressor` closes its stdin, waits, and
returns that report.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

from system_under_test.backup.errors import BackupError
from system_under_test.backup.priority import lower_priority

CHUNK = 1 << 20


class _Hashing:
    """The stdout end: writes through, hashing and counting."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.written = 0

    def write(self, data: bytes | memoryview) -> int:
        self.out.write(data)
        self.sha256.update(data)
        self.written += len(data)
        return len(data)


def compress(source: BinaryIO, out: BinaryIO, level: int, threads: int) -> dict[str, object]:
    """Compress `source` into `out` as one checksummed zstd frame; return the report."""
    sink = _Hashing(out)
    writer = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True).stream_writer(
        sink, closefd=False
    )
    raw = 0
    while chunk := source.read(CHUNK):
        writer.write(chunk)
        raw += len(chunk)
    writer.flush(zstandard.FLUSH_FRAME)
    writer.close()
    out.flush()
    return {"raw": raw, "written": sink.written, "sha256": sink.sha256.hexdigest()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=int, default=3)
    parser.add_argument("--threads", type=int, default=-1)
    args = parser.parse_args(argv)
    try:
        report = compress(sys.stdin.buffer, sys.stdout.buffer, args.level, args.threads)
    except OSError as exc:
        sys.stderr.write(json.dumps({"errno": exc.errno, "error": exc.strerror or str(exc)}) + "\n")
        return 1
    sys.stderr.write(json.dumps(report) + "\n")
    return 0


@dataclass
class Compressor:
    """A running compressor process writing into `out_fd`."""

    process: subprocess.Popen[bytes]

    @property
    def stdin(self) -> BinaryIO:
        assert self.process.stdin is not None
        return self.process.stdin  # type: ignore[return-value]


def start_compressor(out_fd: int, level: int, threads: int, in_fd: int | None = None) -> Compressor:
    """Launch the compressor with stdout on `out_fd` (the partial file), reading `in_fd` (the read end of
    pg_dump's pipe) or, without one, a pipe from this process (`Compressor.stdin`)."""
    argv = [sys.executable, "-m", "system_under_test.backup.compressor", f"--level={level}", f"--threads={threads}"]
    stdin = subprocess.PIPE if in_fd is None else in_fd
    process = subprocess.Popen(argv, stdin=stdin, stdout=out_fd, stderr=subprocess.PIPE, close_fds=True)
    lower_priority(process.pid)  # before its interpreter has done much: start-up and imports are niced too
    return Compressor(process)


def finish_compressor(compressor: Compressor) -> dict[str, object]:
    """Close the compressor's input, wait for it, return its report (OSError with the child's errno if its
    writing failed, BackupError if it failed otherwise)."""
    process = compressor.process
    assert process.stderr is not None
    if process.stdin is not None:  # fed from this process: end its input
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
    stderr = process.stderr.read().decode(errors="replace")
    process.wait()
    lines = stderr.strip().splitlines()
    with contextlib.suppress(ValueError, IndexError):
        failure = json.loads(lines[-1])
        if isinstance(failure, dict) and isinstance(failure.get("errno"), int):
            raise OSError(failure["errno"], f"backup compressor: {failure.get('error')}")
    if process.returncode != 0 or not lines:
        raise BackupError(f"the backup compressor exited with code {process.returncode}: {stderr.strip()[-500:]}")
    return json.loads(lines[-1])


def kill_compressor(compressor: Compressor) -> None:
    """Stop the compressor at once (the backup is abandoned) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        compressor.process.kill()
    with contextlib.suppress(OSError):
        if compressor.process.stdin is not None:
            compressor.process.stdin.close()
    compressor.process.wait()


if __name__ == "__main__":
    raise SystemExit(main())
