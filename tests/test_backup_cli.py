"""`athbench backup run | list | verify | restore` against the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from harness.cli import app
from system_under_test.backup.pgtools import with_database
from tests.backup_support import seed_small

runner = CliRunner()


@pytest.fixture
def seeded_dsn(fresh_db_dsn: str, pg_bin: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ATHBENCH_PG_BIN", str(pg_bin))
    asyncio.run(seed_small(fresh_db_dsn))
    return fresh_db_dsn


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["backup", *args])
    return result.exit_code, result.output


async def count_rows(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def drop_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def test_run_list_verify_restore(seeded_dsn: str, postgres_dsn: str, tmp_path: Path) -> None:
    common = ["--postgres-dsn", seeded_dsn, "--backup-dir", str(tmp_path)]
    code, output = invoke("run", *common, "--profile", "optimized", "--rate-mb-s", "50")
    assert code == 0, output
    code, output = invoke("list", "--backup-dir", str(tmp_path), "--json")
    assert code == 0, output
    [listed] = json.loads(output)
    assert listed["verification"] is None

    code, output = invoke("verify", *common, listed["backup_id"])
    assert code == 0, output
    assert "tables match" in output

    target = f"restored_{listed['backup_id'][-12:-1].lower()}"
    code, output = invoke("restore", *common, listed["backup_id"], "--target-db", target, "-j", "1")
    assert code == 0, output
    try:
        assert asyncio.run(count_rows(with_database(postgres_dsn, target), "properties")) == 2_000
    finally:
        asyncio.run(drop_database(postgres_dsn, target))


def test_verify_of_a_corrupt_file_exits_1_with_a_clear_message(seeded_dsn: str, tmp_path: Path) -> None:
    common = ["--postgres-dsn", seeded_dsn, "--backup-dir", str(tmp_path)]
    code, output = invoke("run", *common, "--profile", "baseline", "--keep", "1")
    assert code == 0, output
    [data_file] = tmp_path.glob("*.dump")
    data = bytearray(data_file.read_bytes())
    data[-1] ^= 0x80
    data_file.write_bytes(bytes(data))
    code, output = invoke("verify", *common, data_file.name.removesuffix(".dump"))
    assert code == 1
    assert "SHA-256" in output and "refusing to restore" in output.replace("\n", " ")


def test_bad_profile_is_a_usage_error(tmp_path: Path) -> None:
    code, output = invoke("run", "--postgres-dsn", "postgresql://x@127.0.0.1/db", "--backup-dir", str(tmp_path),
                          "--profile", "fast")  # fmt: skip
    assert code == 2
    assert "unknown backup profile" in output
