"""Restoring backups, and the restore drill that proves a backup restores with nothing lost.

Order of work, so that a bad file never reaches pg_restore:

1. the file's SHA-256 and size are checked against the manifest (`IntegrityError` on any difference);
2. a `.dump.zst` is decompressed, streaming, to a temporary file (`pg_restore -j` needs a seekable file);
3. `pg_restore -j N` restores into a newly created database;
4. (drill only) every table's row count and checksum are compared with the manifest, the result and the
   measured restore time (the RTO: decompression + pg_restore) are recorded in the manifest, and the
   scratch database is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import asyncpg
import zstandard

from system_under_test.backup.checksums import TableState, database_state
from system_under_test.backup.errors import BackupError, IntegrityError, VerificationError
from system_under_test.backup.files import discard_partial, open_partial, partial_path, remove_stale_partials
from system_under_test.backup.locks import drill_lock_exclusive, drill_lock_shared
from system_under_test.backup.manifest import Manifest, Verification, load_manifest
from system_under_test.backup.pgtools import client_connection, pg_program, quote_ident, with_database
from system_under_test.backup.threads import in_thread

_READ = 1 << 20
SCRATCH_PREFIX = "athbench_restore_"


def check_file(backup_dir: Path, manifest: Manifest) -> Path:
    """The backup's data file, after checking its size and SHA-256 against the manifest."""
    path = backup_dir / manifest.file
    if not path.exists():
        raise IntegrityError(f"backup {manifest.backup_id}: data file {path} is missing")
    size = path.stat().st_size
    if size != manifest.bytes_compressed:
        raise IntegrityError(
            f"backup {manifest.backup_id}: {path.name} is {size} bytes, manifest says "
            f"{manifest.bytes_compressed} (truncated or replaced); refusing to restore"
        )
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_READ):
            digest.update(block)
    if digest.hexdigest() != manifest.sha256:
        raise IntegrityError(
            f"backup {manifest.backup_id}: SHA-256 of {path.name} is {digest.hexdigest()}, manifest says "
            f"{manifest.sha256} (file corrupt); refusing to restore"
        )
    return path


def _decompress(source: Path, handle: BinaryIO) -> None:
    """Stream-decompress the zstd file `source` into the open file `handle`."""
    with open(source, "rb") as compressed:
        zstandard.ZstdDecompressor().copy_stream(compressed, handle, read_size=_READ, write_size=_READ)
    handle.flush()


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_restore(archive: Path, target_dsn: str, jobs: int, pg_bin: Path | None) -> None:
    """pg_restore in its own process group (its `-j` workers are forked into it): a cancel or a failure
    kills the whole group, so no worker keeps restoring. The password travels in the environment."""
    dbname, env = client_connection(target_dsn)
    proc = await asyncio.create_subprocess_exec(
        pg_program("pg_restore", pg_bin),
        f"--jobs={jobs}",
        "--no-owner",
        "--no-acl",
        "--exit-on-error",
        f"--dbname={dbname}",
        str(archive),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        _, stderr = await proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers left behind (none after a clean exit)
        if proc.returncode is None:
            await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        message = stderr.decode(errors="replace").strip() or "no message"
        raise BackupError(f"pg_restore of {archive.name} exited with code {proc.returncode}: {message}")


@dataclass(frozen=True)
class RestoreResult:
    """A restore into `database`, and how long it took (decompression + pg_restore)."""

    backup_id: str
    database: str
    duration_s: float


async def restore_backup(
    dsn: str,
    backup_dir: Path,
    backup_id: str,
    target_database: str,
    *,
    jobs: int = 2,
    pg_bin: Path | None = None,
) -> RestoreResult:
    """Restore backup `backup_id` into a new database `target_database` on the server `dsn` points at.

    The database must not exist yet; it is dropped again if the restore fails.
    """
    if jobs < 1:
        raise BackupError(f"restore jobs must be at least 1, got {jobs}")
    manifest = load_manifest(backup_dir, backup_id)
    path = await asyncio.to_thread(check_file, backup_dir, manifest)
    started = time.perf_counter()
    scratch_file: BinaryIO | None = None
    archive = path
    try:
        # Inside the try: a cancel that lands while CREATE DATABASE runs (or while its connection closes)
        # still drops what the server may have created.
        try:
            await _admin(dsn, f"CREATE DATABASE {quote_ident(target_database)}")
        except asyncpg.DuplicateDatabaseError:
            raise _Existing(f"cannot restore into {target_database!r}: the database already exists") from None
        if path.name.endswith(".zst"):
            # A locked .partial file: deleted below, or by the next run if this process dies.
            target = backup_dir / f"restore-{uuid.uuid4().hex[:8]}-{path.name.removesuffix('.zst')}"
            scratch_file = open_partial(target)
            archive = partial_path(target)
            await in_thread(_decompress, path, scratch_file)
        await _pg_restore(archive, with_database(dsn, target_database), jobs, pg_bin)
    except _Existing as exc:
        raise BackupError(str(exc)) from None  # not ours: never dropped
    except BaseException:
        await _drop_database(dsn, target_database)
        raise
    finally:
        if scratch_file is not None:
            discard_partial(scratch_file, target)
    return RestoreResult(backup_id, target_database, round(time.perf_counter() - started, 4))


class _Existing(Exception):
    """The restore's target database existed before the restore (someone else's: left alone)."""


async def _drop_database(dsn: str, database: str) -> None:
    await asyncio.shield(_admin(dsn, f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)"))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def compare_tables(expected: dict[str, TableState], actual: dict[str, TableState]) -> list[str]:
    """Every difference between the manifest's tables and a restored database's, as readable lines."""
    problems: list[str] = []
    for name in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(name), actual.get(name)
        if want is None:
            problems.append(f"{name}: present after restore, absent from the manifest")
        elif got is None:
            problems.append(f"{name}: in the manifest, missing after restore")
        elif want.rows != got.rows:
            problems.append(f"{name}: {got.rows} rows restored, manifest says {want.rows}")
        elif want.checksum != got.checksum:
            problems.append(f"{name}: content checksum {got.checksum}, manifest says {want.checksum}")
    return problems


async def restore_drill(
    dsn: str, backup_dir: Path, backup_id: str, *, jobs: int = 2, pg_bin: Path | None = None
) -> Manifest:
    """Restore into a scratch database, compare every table with the manifest, record the outcome.

    Returns the updated manifest (also saved). A corrupt file raises IntegrityError before anything is
    restored; a failed restore raises BackupError; a restored database that differs raises
    VerificationError. Every failure is recorded in the manifest first (`verification.ok` false).
    """
    async with drill_lock_shared(dsn):  # retention and the start-up cleanup wait for it
        return await _drill(dsn, backup_dir, backup_id, jobs, pg_bin)


async def _drill(dsn: str, backup_dir: Path, backup_id: str, jobs: int, pg_bin: Path | None) -> Manifest:
    manifest = load_manifest(backup_dir, backup_id)
    scratch = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        result = await restore_backup(dsn, backup_dir, backup_id, scratch, jobs=jobs, pg_bin=pg_bin)
    except BackupError as exc:
        manifest.verification = Verification(_now(), False, None, None, jobs, str(exc))
        manifest.save(backup_dir)
        raise
    try:
        check_started = time.perf_counter()
        conn = await asyncpg.connect(with_database(dsn, scratch))
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                restored = await database_state(conn)
        finally:
            await conn.close()
        check_duration = time.perf_counter() - check_started
    finally:
        await _drop_database(dsn, scratch)
    problems = compare_tables(manifest.tables, restored)
    manifest.verification = Verification(
        verified_at=_now(),
        ok=not problems,
        restore_duration_s=result.duration_s,
        check_duration_s=round(check_duration, 4),
        jobs=jobs,
        reason="; ".join(problems) or None,
    )
    manifest.save(backup_dir)
    if problems:
        raise VerificationError(f"backup {backup_id} restored with differences: {'; '.join(problems)}")
    return manifest


async def clean_leftovers(dsn: str, backup_dir: Path) -> list[str] | None:
    """Drop `athbench_restore_*` scratch databases and stale `.partial` files left by interrupted drills
    (a killed process cannot clean up after itself). Skipped (None) while a drill runs in any process."""
    async with drill_lock_exclusive(dsn, wait=False) as acquired:
        if not acquired:
            return None
        conn = await asyncpg.connect(with_database(dsn, "postgres"))
        try:
            names = [
                r["datname"]
                for r in await conn.fetch(
                    "SELECT datname FROM pg_database WHERE datname LIKE $1", SCRATCH_PREFIX.replace("_", "\\_") + "%"
                )
            ]
        finally:
            await conn.close()
        for name in names:
            await _drop_database(dsn, name)
        removed = await asyncio.to_thread(remove_stale_partials, backup_dir)
        return names + [path.name for path in removed]
