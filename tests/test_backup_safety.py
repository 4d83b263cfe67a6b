"""Backups that can be left running: drills never leak scratch databases, retention waits for drills, one
scheduler leads across processes, no password on a command line, a cancelled `pg_restore -j` stops all
its workers (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest

from system_under_test.backup import restore
from system_under_test.backup.config import BackupConfig
from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.files import open_partial, partial_path
from system_under_test.backup.locks import drill_lock_shared
from system_under_test.backup.pgtools import client_connection
from system_under_test.backup.scheduler import BackupScheduler
from system_under_test.backup.service import BackupService
from system_under_test.data.seed import seed
from tests.backup_support import scratch_databases, seed_small


@pytest.fixture
async def seeded_dsn(fresh_db_dsn: str) -> str:
    await seed_small(fresh_db_dsn)
    return fresh_db_dsn


def service_for(dsn: str, directory: Path, pg_bin: Path, **env: str) -> BackupService:
    config = BackupConfig.from_env(dsn=dsn, backup_dir=directory, profile="optimized", pg_bin=pg_bin, env=env)
    return BackupService(config)


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_cancel_during_create_database_leaks_no_scratch_database(
    seeded_dsn: str, tmp_path: Path, pg_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = await run_backup(seeded_dsn, tmp_path, BackupOptions(profile="optimized"), pg_bin=pg_bin)
    before = set(await scratch_databases(seeded_dsn))
    real_admin = restore._admin

    async def create_then_cancelled(dsn: str, sql: str) -> None:
        await real_admin(dsn, sql)
        if sql.startswith("CREATE DATABASE"):
            raise asyncio.CancelledError  # the cancel lands after the server created it (e.g. during close)

    monkeypatch.setattr(restore, "_admin", create_then_cancelled)
    with pytest.raises(asyncio.CancelledError):
        await restore.restore_drill(seeded_dsn, tmp_path, manifest.backup_id, pg_bin=pg_bin)
    assert set(await scratch_databases(seeded_dsn)) == before


async def test_start_up_cleanup_removes_leftovers_unless_a_drill_runs(
    postgres_dsn: str, fresh_db_dsn: str, tmp_path: Path
) -> None:
    leftover = "athbench_restore_leftover0001"
    await _execute(postgres_dsn, f'CREATE DATABASE "{leftover}"')
    stale = open_partial(tmp_path / "restore-dead-x.dump")
    stale.close()  # its writer is gone: the lock is free
    try:
        async with drill_lock_shared(fresh_db_dsn):  # a drill running in another process
            assert await restore.clean_leftovers(fresh_db_dsn, tmp_path) is None
            assert leftover in await scratch_databases(postgres_dsn)
        cleaned = await restore.clean_leftovers(fresh_db_dsn, tmp_path)
        assert cleaned is not None and leftover in cleaned
        assert leftover not in await scratch_databases(postgres_dsn)
        assert not partial_path(tmp_path / "restore-dead-x.dump").exists()
    finally:
        await _execute(postgres_dsn, f'DROP DATABASE IF EXISTS "{leftover}"')


async def test_retention_waits_for_a_running_drill(seeded_dsn: str, tmp_path: Path, pg_bin: Path) -> None:
    service = service_for(seeded_dsn, tmp_path, pg_bin, ATHBENCH_BACKUP_KEEP="1")
    first = await run_backup(seeded_dsn, tmp_path, BackupOptions(profile="optimized"), pg_bin=pg_bin)
    await run_backup(seeded_dsn, tmp_path, BackupOptions(profile="optimized"), pg_bin=pg_bin)
    async with drill_lock_shared(seeded_dsn):  # a drill (of `first`, say) is reading its file
        retention = asyncio.create_task(service.apply_retention())
        await asyncio.sleep(0.5)
        assert not retention.done()
        assert (tmp_path / first.file).exists()
    assert await asyncio.wait_for(retention, 10) == [first.backup_id]


async def test_one_scheduler_leads_across_processes(seeded_dsn: str, tmp_path: Path, pg_bin: Path) -> None:
    """Two workers' schedulers (two services, as two uvicorn workers have): one takes the round."""
    services = [service_for(seeded_dsn, tmp_path / f"w{i}", pg_bin) for i in range(2)]
    schedulers = [BackupScheduler(s, interval_s=3600, verify=False) for s in services]
    try:
        taken = await asyncio.gather(*(s.run_once() for s in schedulers))
        assert sorted(taken) == [False, True]
        assert sum(s.completed for s in services) == 1
        leader = schedulers[taken.index(True)]
        other = schedulers[taken.index(False)]
        assert await other.run_once() is False  # still led by the first
        await leader.stop()  # the leader's process ends: its session and lock go
        assert await other.run_once() is True
        assert sum(s.completed for s in services) == 2
    finally:
        for s in schedulers:
            await s.stop()


async def test_the_password_is_never_on_a_command_line(
    seeded_dsn: str, tmp_path: Path, pg_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import unquote, urlsplit

    with_password = seeded_dsn  # the embedded server's superuser has a per-run password
    secret = unquote(urlsplit(with_password).password or "")
    assert len(secret) >= 16
    seen: list[tuple[tuple[str, ...], dict[str, str] | None]] = []
    real_exec = asyncio.create_subprocess_exec

    async def spy(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
        seen.append((tuple(str(a) for a in argv), kwargs.get("env")))
        return await real_exec(*argv, **kwargs)

    real_popen = subprocess.Popen

    def spy_popen(argv: list[str], *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        seen.append((tuple(str(a) for a in argv), kwargs.get("env")))
        return real_popen(argv, *args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    monkeypatch.setattr(subprocess, "Popen", spy_popen)  # pg_dump is started with Popen (vfork)
    manifest = await run_backup(with_password, tmp_path, BackupOptions(profile="optimized"), pg_bin=pg_bin)
    await restore.restore_drill(with_password, tmp_path, manifest.backup_id, pg_bin=pg_bin)
    seen = [(argv, env) for argv, env in seen if Path(argv[0]).name in ("pg_dump", "pg_restore")]
    assert {Path(argv[0]).name for argv, _ in seen} == {"pg_dump", "pg_restore"}
    for argv, env in seen:
        assert not any(secret in arg for arg in argv), argv
        assert env is not None and env.get("PGPASSWORD") == secret


def test_client_connection_keeps_user_host_and_options() -> None:
    dsn, env = client_connection("postgresql://bob:p%40ss@db.example:5433/app?sslmode=require", {})
    assert dsn == "postgresql://bob@db.example:5433/app?sslmode=require"
    assert env == {"PGPASSWORD": "p@ss"}
    assert client_connection("postgresql://bob@h/app", {}) == ("postgresql://bob@h/app", {})


async def test_a_cancelled_parallel_restore_leaves_no_worker(
    fresh_db_dsn: str, tmp_path: Path, pg_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(fresh_db_dsn, 40_000)
    manifest = await run_backup(fresh_db_dsn, tmp_path, BackupOptions(profile="optimized"), pg_bin=pg_bin)
    started: list[asyncio.subprocess.Process] = []
    real_exec = asyncio.create_subprocess_exec

    async def spy(*argv: str, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await real_exec(*argv, **kwargs)
        if Path(str(argv[0])).name == "pg_restore":
            started.append(proc)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    drill = asyncio.create_task(
        restore.restore_drill(fresh_db_dsn, tmp_path, manifest.backup_id, jobs=3, pg_bin=pg_bin)
    )
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while not workers and not drill.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
        if started:
            try:
                workers = psutil.Process(started[0].pid).children()
            except psutil.NoSuchProcess:
                break
    assert workers, "pg_restore finished before its workers were seen (database too small?)"
    drill.cancel()
    with pytest.raises(asyncio.CancelledError):
        await drill
    alive = [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], alive
    assert await scratch_databases(fresh_db_dsn) == []
