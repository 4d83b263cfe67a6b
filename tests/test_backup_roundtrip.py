"""Backup -> restore drill round trips against the real embedded PostgreSQL, both profiles."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from system_under_test.backup.checksums import database_state
from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.errors import BackupError, IntegrityError, VerificationError
from system_under_test.backup.manifest import list_backups, load_manifest
from system_under_test.backup.pgtools import database_of, with_database
from system_under_test.backup.restore import restore_backup, restore_drill
from tests.backup_support import SEED_PROPERTIES, backup_files, scratch_databases, seed_small


@pytest.fixture
async def seeded_dsn(fresh_db_dsn: str) -> str:
    await seed_small(fresh_db_dsn)
    return fresh_db_dsn


async def source_state(dsn: str) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        return await database_state(conn)
    finally:
        await conn.close()


@pytest.mark.parametrize("profile", ["baseline", "optimized"])
async def test_backup_restores_every_table_identically(
    new_scratch_databases: NewScratch, seeded_dsn: str, postgres_dsn: str, pg_bin: Path, tmp_path: Path, profile: str
) -> None:
    manifest = await run_backup(seeded_dsn, tmp_path, BackupOptions(profile=profile), pg_bin=pg_bin)

    assert manifest.file.endswith(".dump.zst" if profile == "optimized" else ".dump")
    assert manifest.tables == await source_state(seeded_dsn)
    assert manifest.tables["public.properties"].rows == SEED_PROPERTIES
    assert manifest.tables["audit.Odd Names"].checksum.startswith("md5:")  # no hash function for json
    assert manifest.tables["audit.events"].rows == 505
    assert manifest.bytes_compressed == (tmp_path / manifest.file).stat().st_size
    assert manifest.server_version.startswith("16")
    if profile == "optimized":
        assert manifest.bytes_raw is not None and manifest.bytes_compressed < manifest.bytes_raw

    verified = await restore_drill(postgres_dsn, tmp_path, manifest.backup_id, jobs=2, pg_bin=pg_bin)

    assert verified.verified and verified.verification is not None
    assert verified.verification.restore_duration_s > 0
    assert load_manifest(tmp_path, manifest.backup_id).verified  # recorded on disk
    assert await new_scratch_databases() == []  # scratch database dropped


NewScratch = Callable[[], Awaitable[list[str]]]


@pytest.fixture
async def new_scratch_databases(postgres_dsn: str) -> NewScratch:
    """Scratch databases that appeared on the shared server since the test started (only this test's)."""
    before = set(await scratch_databases(postgres_dsn))

    async def new() -> list[str]:
        return sorted(set(await scratch_databases(postgres_dsn)) - before)

    return new


async def test_restore_into_named_database_matches_source(
    seeded_dsn: str, postgres_dsn: str, pg_bin: Path, tmp_path: Path
) -> None:
    manifest = await run_backup(seeded_dsn, tmp_path, pg_bin=pg_bin)
    target = f"{database_of(seeded_dsn)}_copy"
    await restore_backup(postgres_dsn, tmp_path, manifest.backup_id, target, pg_bin=pg_bin)
    try:
        assert await source_state(with_database(postgres_dsn, target)) == manifest.tables
        with pytest.raises(BackupError, match="already exists"):
            await restore_backup(postgres_dsn, tmp_path, manifest.backup_id, target, pg_bin=pg_bin)
    finally:
        conn = await asyncpg.connect(postgres_dsn)
        await conn.execute(f'DROP DATABASE "{target}" WITH (FORCE)')
        await conn.close()


async def test_manifest_describes_the_snapshot_dumped_not_later_writes(
    seeded_dsn: str, postgres_dsn: str, pg_bin: Path, tmp_path: Path
) -> None:
    manifest = await run_backup(seeded_dsn, tmp_path, pg_bin=pg_bin)
    conn = await asyncpg.connect(seeded_dsn)
    await conn.execute("DELETE FROM audit.events WHERE ratio < 0.01")
    await conn.close()
    # the backup still holds (and its manifest still describes) the rows as they were
    await restore_drill(postgres_dsn, tmp_path, manifest.backup_id, pg_bin=pg_bin)
    assert (await source_state(seeded_dsn))["audit.events"] != manifest.tables["audit.events"]


async def test_drill_reports_a_table_that_differs_from_the_manifest(
    new_scratch_databases: NewScratch, seeded_dsn: str, postgres_dsn: str, pg_bin: Path, tmp_path: Path
) -> None:
    manifest = await run_backup(seeded_dsn, tmp_path, pg_bin=pg_bin)
    path = tmp_path / f"{manifest.backup_id}.manifest.json"
    data = json.loads(path.read_text())
    data["tables"]["audit.events"]["rows"] = 504
    path.write_text(json.dumps(data))

    with pytest.raises(VerificationError, match=r"audit\.events: 505 rows restored, manifest says 504"):
        await restore_drill(postgres_dsn, tmp_path, manifest.backup_id, pg_bin=pg_bin)
    recorded = load_manifest(tmp_path, manifest.backup_id)
    assert recorded.verification is not None and not recorded.verification.ok
    assert not recorded.verified
    assert await new_scratch_databases() == []


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("profile", ["baseline", "optimized"])
async def test_damaged_file_is_rejected_before_any_restore(
    new_scratch_databases: NewScratch,
    seeded_dsn: str,
    postgres_dsn: str,
    pg_bin: Path,
    tmp_path: Path,
    damage: str,
    profile: str,
) -> None:
    manifest = await run_backup(seeded_dsn, tmp_path, BackupOptions(profile=profile), pg_bin=pg_bin)
    path = tmp_path / manifest.file
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        del data[-100:]
    path.write_bytes(bytes(data))

    expected = "SHA-256" if damage == "flip" else "truncated"
    with pytest.raises(IntegrityError, match=expected):
        await restore_drill(postgres_dsn, tmp_path, manifest.backup_id, pg_bin=pg_bin)
    assert await new_scratch_databases() == []
    recorded = load_manifest(tmp_path, manifest.backup_id).verification
    assert recorded is not None and not recorded.ok and recorded.restore_duration_s is None
    assert recorded.reason is not None and expected in recorded.reason
    assert [name for name in backup_files(tmp_path) if name.startswith(".")] == []


async def test_list_shows_complete_backups_oldest_first(seeded_dsn: str, pg_bin: Path, tmp_path: Path) -> None:
    first = await run_backup(seeded_dsn, tmp_path, BackupOptions(profile="baseline"), pg_bin=pg_bin)
    second = await run_backup(seeded_dsn, tmp_path, pg_bin=pg_bin)
    (tmp_path / "orphan.manifest.json").write_text("{not json")
    assert [m.backup_id for m in list_backups(tmp_path)] == [first.backup_id, second.backup_id]
    (tmp_path / second.file).unlink()
    assert [m.backup_id for m in list_backups(tmp_path)] == [first.backup_id]


async def test_bad_input_gets_a_clear_error(seeded_dsn: str, pg_bin: Path, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="unknown backup profile"):
        BackupOptions(profile="fast")  # type: ignore[arg-type]
    with pytest.raises(BackupError, match="no backup 'nope'"):
        await restore_drill(seeded_dsn, tmp_path, "nope", pg_bin=pg_bin)
    with pytest.raises(BackupError, match="invalid backup id"):
        load_manifest(tmp_path, "../etc/passwd")
    with pytest.raises(BackupError, match="cannot connect"):
        await run_backup(with_database(seeded_dsn, "no_such_db"), tmp_path, pg_bin=pg_bin)
