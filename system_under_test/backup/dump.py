"""Taking a backup: `pg_dump -Fc` as an asyncio subprocess, streamed to disk in chunks.

Profiles:

- `baseline`: pg_dump's own gzip (default level), unthrottled; the output is copied to `<id>.dump`.
- `optimized`: `pg_dump -Z0`, compressed by zstandard (multi-threaded, level configurable) in a separate
  process (`backup/compressor.py`) that writes `<id>.dump.zst`; the compressor, pg_dump and the two
  PostgreSQL backends serving the backup (pg_dump's `COPY`s, the checksums) run at the lowest priority
  (`backup/priority.py`), so the backup takes the CPU live traffic leaves over. Unthrottled (the
  default), pg_dump writes straight into the compressor's pipe; with a rate, the service copies the stream
  through a token bucket.

The table checksums for the manifest are taken in the same snapshot that pg_dump dumps (exported with
`pg_export_snapshot()` and passed as `--snapshot`), concurrently with the dump, so the manifest describes
exactly the data in the file even while the service keeps writing.

Nothing is ever held whole in memory: unless pg_dump writes to the compressor directly, one worker
thread reads pg_dump's stdout into a single reusable chunk buffer and hands it on (to the compressor's
stdin, or hashed to the file for the baseline) and sleeps off the token bucket's debt, all off the event
loop, which only waits for pg_dump. The file is written under a locked temporary name and renamed only
when pg_dump succeeded and the data is fsynced; cancelling the task or pg_dump failing kills pg_dump and
deletes the temporary file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

import asyncpg

from system_under_test.backup.checksums import ALGORITHM, TableState, database_state
from system_under_test.backup.compressor import finish_compressor, kill_compressor, start_compressor
from system_under_test.backup.errors import BackupError
from system_under_test.backup.files import commit_partial, discard_partial, open_partial, remove_stale_partials
from system_under_test.backup.manifest import Manifest, manifest_path
from system_under_test.backup.pgtools import client_connection, database_of, pg_program
from system_under_test.backup.priority import BACKGROUND_NICE, lower_backends, lower_priority
from system_under_test.backup.threads import in_thread
from system_under_test.backup.throttle import TokenBucket

Profile = Literal["baseline", "optimized"]
PROFILES: tuple[str, ...] = ("baseline", "optimized")
SUFFIXES = {"baseline": ".dump", "optimized": ".dump.zst"}
MB = 1_000_000
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class BackupOptions:
    """How to take a backup. `zstd_threads=-1` uses every logical CPU."""

    profile: Profile = "optimized"
    zstd_level: int = 3
    zstd_threads: int = -1
    chunk_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise BackupError(f"unknown backup profile {self.profile!r}; expected one of {PROFILES}")
        if not 1 <= self.zstd_level <= 22:
            raise BackupError(f"zstd level must be 1..22, got {self.zstd_level}")
        if self.chunk_bytes < 4096:
            raise BackupError(f"chunk size must be at least 4096 bytes, got {self.chunk_bytes}")


def new_backup_id(database: str, now: datetime | None = None) -> str:
    """`<database>-<UTC timestamp to the microsecond>`, sortable by time."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{database}-{stamp}"


class _Sink:
    """The file end of the stream. Baseline: pg_dump's gzip output written as is, hashed and counted here.
    Optimized: raw bytes piped to the compressor process, which writes, hashes and counts; unthrottled
    (`direct`), the compressor reads pg_dump's pipe itself (`attach`) and the bytes never pass through the
    service (its copier thread cost live traffic latency), which takes the raw count from the compressor."""

    def __init__(self, handle: BinaryIO, options: BackupOptions, direct: bool = False) -> None:
        self.handle = handle
        self.options = options
        self.direct = direct and options.profile == "optimized"
        self._sha256 = hashlib.sha256()
        self.bytes_written = 0
        self.bytes_raw: int | None = None
        self._compressor = None
        if options.profile == "optimized" and not self.direct:
            self._compressor = start_compressor(handle.fileno(), options.zstd_level, options.zstd_threads)

    def attach(self, read_fd: int) -> None:
        """Direct mode: start the compressor reading pg_dump's pipe at `read_fd`."""
        options = self.options
        self._compressor = start_compressor(self.handle.fileno(), options.zstd_level, options.zstd_threads, read_fd)

    def feed(self, chunk: memoryview) -> None:
        """Take one chunk of pg_dump output (runs in a worker thread)."""
        if self._compressor is None:
            self.handle.write(chunk)
            self._sha256.update(chunk)
            self.bytes_written += len(chunk)
            return
        try:
            self._compressor.stdin.write(chunk)
        except BrokenPipeError:
            self.finish()  # raises the compressor's own error (a full disk: OSError ENOSPC)
            raise

    def finish(self) -> None:
        """End the stream; for the optimized profile wait for the compressor and take its count and hash."""
        if self._compressor is None:
            return
        report = finish_compressor(self._compressor)
        self.bytes_written = int(report["written"])  # type: ignore[call-overload]
        self.bytes_raw = int(report["raw"])  # type: ignore[call-overload]
        self._digest = str(report["sha256"])

    def abort(self) -> None:
        """Stop the compressor, if any (the backup failed or was cancelled)."""
        if self._compressor is not None and self._compressor.process.poll() is None:
            kill_compressor(self._compressor)

    def hexdigest(self) -> str:
        return self._digest if self.options.profile == "optimized" else self._sha256.hexdigest()


_F_SETPIPE_SZ = 1031  # Linux fcntl: grow a pipe's buffer to cut context switches


def _copy_stream(
    read_fd: int,
    sink: _Sink,
    chunk_bytes: int,
    throttle: Callable[[int], None] | None,
    stop: threading.Event,
) -> int:
    """Worker thread: read pg_dump's stdout in chunks into `sink` until EOF; return the bytes read."""
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    total = 0
    with open(read_fd, "rb", buffering=0, closefd=False) as pipe:
        while not stop.is_set():
            filled = 0
            while filled < chunk_bytes:
                n = pipe.readinto(view[filled:])
                if not n:
                    break
                filled += n
            if not filled:
                break
            sink.feed(view[:filled])
            total += filled
            if throttle is not None:
                throttle(filled)
    return total


async def _pump(
    dsn: str, args: list[str], sink: _Sink, options: BackupOptions, bucket: TokenBucket | None, application_name: str
) -> int | None:
    """Run pg_dump into `sink`; return the raw bytes it wrote, or None when the compressor counted them
    (`sink.direct`: pg_dump's pipe goes straight to the compressor, no byte passes through this process).

    pg_dump is started with `subprocess.Popen` (vfork: well under a millisecond) rather than the event loop's
    subprocess support (uvloop forks the whole service: about 20 ms with the loop blocked, measured at
    150 MB RSS); its stderr and exit are awaited in a worker thread. Its connection is named
    `application_name` (so its backend can be found). Otherwise a worker thread copies pg_dump's stdout
    into `sink` and sleeps off the token bucket's debt itself. Optimized: pg_dump runs at the compressor's
    lower priority.
    """
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_fd, _F_SETPIPE_SZ, min(options.chunk_bytes, 1 << 20))
    try:
        if sink.direct:
            sink.attach(read_fd)
        dbname, env = client_connection(dsn)
        env["PGAPPNAME"] = application_name
        argv = [*args, f"--dbname={dbname}"]
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=subprocess.PIPE, close_fds=True
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    if options.profile == "optimized":
        lower_priority(proc.pid)
    stop = threading.Event()

    def throttle(n: int) -> None:
        assert bucket is not None
        delay = bucket.debit(n)
        if delay > 0:
            stop.wait(delay)

    copier = (
        None
        if sink.direct
        else asyncio.ensure_future(
            asyncio.to_thread(
                _copy_stream, read_fd, sink, options.chunk_bytes, throttle if bucket is not None else None, stop
            )
        )
    )
    communicate = asyncio.ensure_future(asyncio.to_thread(proc.communicate))
    raw = None
    try:
        if copier is None:
            _, stderr = await communicate
        else:
            # A copier that fails (disk full) stops reading; pg_dump would then block on the full pipe forever.
            await asyncio.wait([communicate, copier], return_when=asyncio.FIRST_EXCEPTION)
            raw = await copier if copier.done() else None
            _, stderr = await communicate
            raw = await copier if raw is None else raw
    finally:
        stop.set()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await asyncio.wait([communicate])  # its thread returns once pg_dump is gone
        if copier is not None and not copier.done():
            await asyncio.wait([copier])  # the thread must finish before the pipe and file are closed
        os.close(read_fd)
    if proc.returncode != 0:
        if sink.direct:  # pg_dump lost its reader: the compressor's own error (a full disk) says why
            await in_thread(sink.finish)
        message = stderr.decode(errors="replace").strip() or "no message"
        raise BackupError(f"pg_dump exited with code {proc.returncode}: {message}")
    return raw


async def run_backup(
    dsn: str,
    backup_dir: Path,
    options: BackupOptions | None = None,
    *,
    bucket: TokenBucket | None = None,
    backup_id: str | None = None,
    pg_bin: Path | None = None,
) -> Manifest:
    """Back up the database `dsn` names into `backup_dir`; return the manifest written beside it.

    `bucket` throttles the raw dump stream (only honoured for the optimized profile).
    """
    options = options or BackupOptions()
    backup_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(backup_dir)
    database = database_of(dsn)
    started_wall = datetime.now(UTC)
    started = time.perf_counter()
    backup_id = backup_id or new_backup_id(database, started_wall)
    final = backup_dir / f"{backup_id}{SUFFIXES[options.profile]}"
    if final.exists() or manifest_path(backup_dir, backup_id).exists():
        raise BackupError(f"backup {backup_id!r} already exists in {backup_dir}")
    args = [pg_program("pg_dump", pg_bin), "--format=custom"]
    if options.profile == "optimized":
        args.append("--compress=0")
    else:
        bucket = None
    waited_before = bucket.waited_s if bucket is not None else 0.0
    lowered: dict[int, bool] = {}  # PostgreSQL backends lowered to the backup's priority: {pid: done}

    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"cannot connect to database {database!r} to back it up: {exc}") from exc
    handle = open_partial(final)
    sink: _Sink | None = None
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            server_version = str(await conn.fetchval("SHOW server_version"))
            sink = _Sink(handle, options, direct=bucket is None)
            application_name = f"athbench backup {backup_id}"[:63]  # PostgreSQL keeps 63 bytes
            dump_task = asyncio.ensure_future(
                _pump(dsn, [*args, f"--snapshot={snapshot}"], sink, options, bucket, application_name)
            )
            try:
                if options.profile == "optimized":
                    lowered = await lower_backends(conn, application_name)
                tables: dict[str, TableState] = await database_state(conn)
                raw_bytes = await dump_task
            finally:
                if not dump_task.done():
                    dump_task.cancel()
                    await asyncio.wait([dump_task])
            dump_duration = time.perf_counter() - started
            await in_thread(sink.finish)
            raw_bytes = sink.bytes_raw if raw_bytes is None else raw_bytes
            assert raw_bytes is not None
        await in_thread(commit_partial, handle, final)
    except BaseException as exc:
        if sink is not None:
            sink.abort()
        final.unlink(missing_ok=True)
        discard_partial(handle, final)
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise _disk_full_error(backup_id, backup_dir, exc) from exc
        raise
    finally:
        await conn.close()

    finished_wall = datetime.now(UTC)
    duration = time.perf_counter() - started
    manifest = Manifest(
        backup_id=backup_id,
        profile=options.profile,
        file=final.name,
        database=database,
        server_version=server_version,
        started_at=started_wall.isoformat(),
        finished_at=finished_wall.isoformat(),
        duration_s=round(duration, 4),
        dump_duration_s=round(dump_duration, 4),
        bytes_raw=raw_bytes if options.profile == "optimized" else None,
        bytes_compressed=sink.bytes_written,
        throughput_mb_s=round(raw_bytes / MB / duration, 3),
        sha256=sink.hexdigest(),
        compression=(
            {
                "algorithm": "zstd",
                "level": options.zstd_level,
                "threads": options.zstd_threads,
                "process": f"separate (nice {BACKGROUND_NICE}, idle I/O class)",
                "postgres_backends_lowered": sum(lowered.values()),
            }
            if options.profile == "optimized"
            else {"algorithm": "gzip (pg_dump default)", "level": None, "threads": None}
        ),
        checksum_algorithm=ALGORITHM,
        tables=tables,
        throttle_wait_s=round(bucket.waited_s - waited_before, 3) if bucket is not None else 0.0,
    )
    # Data file first, manifest last: a data file without a manifest is not listed as a backup.
    try:
        await in_thread(manifest.save, backup_dir)
    except BaseException as exc:
        final.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise _disk_full_error(backup_id, backup_dir, exc) from exc
        raise
    return manifest


def _disk_full_error(backup_id: str, backup_dir: Path, exc: OSError) -> BackupError:
    """The clear error for a backup that ran out of disk space (its unfinished file is already deleted)."""
    usage = shutil.disk_usage(backup_dir)
    return BackupError(
        f"backup {backup_id} failed: no space left on the disk holding {backup_dir} "
        f"({usage.free:,} of {usage.total:,} bytes free after deleting the unfinished file; {exc.strerror}); "
        "earlier backups are untouched"
    )
