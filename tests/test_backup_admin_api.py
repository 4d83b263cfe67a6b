"""The `/admin/backups` API and the service wiring: token required, 503 when disabled, scheduled
backups verified, RPO on `/health`, metrics on `/metrics`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.backup_support import seed_small
from tests.sut_support import ADMIN_TOKEN, running_app, settings_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ENDPOINTS = [("post", "/admin/backups"), ("get", "/admin/backups"), ("post", "/admin/backups/x/verify")]


@pytest.fixture
async def seeded_dsn(fresh_db_dsn: str) -> str:
    await seed_small(fresh_db_dsn)
    return fresh_db_dsn


@pytest.fixture(autouse=True)
def backup_env(monkeypatch: pytest.MonkeyPatch, pg_bin: Path) -> None:
    monkeypatch.setenv("ATHBENCH_PG_BIN", str(pg_bin))
    for name in ("ATHBENCH_BACKUP_INTERVAL", "ATHBENCH_BACKUP_RPO_TARGET_S", "ATHBENCH_BACKUP_KEEP"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_refuses_without_a_valid_token(
    seeded_dsn: str, redis_url: str, tmp_path: Path, method: str, path: str
) -> None:
    settings = settings_for(seeded_dsn, redis_url, backup_dir=tmp_path)
    async with running_app(settings) as (_, client):
        missing = await client.request(method, path)
        wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"})
        not_bearer = await client.request(method, path, headers={"Authorization": ADMIN_TOKEN})
    assert (missing.status_code, wrong.status_code, not_bearer.status_code) == (401, 401, 401)
    assert list(tmp_path.iterdir()) == []  # nothing was started


async def test_refuses_everyone_when_no_token_is_configured(seeded_dsn: str, redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(seeded_dsn, redis_url, backup_dir=tmp_path, admin_token=None)
    async with running_app(settings) as (_, client):
        response = await client.post("/admin/backups", headers=AUTH)
    assert response.status_code == 403
    assert "ATHBENCH_ADMIN_TOKEN" in response.text


async def test_503_when_backups_are_disabled(seeded_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url)) as (app, client):
        response = await client.get("/admin/backups", headers=AUTH)
        health = await client.get("/health")
    assert app.state.backups is None
    assert response.status_code == 503
    assert "ATHBENCH_BACKUP_DIR" in response.text
    assert "backup:rpo" not in health.json()["checks"]


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_start_list_verify_and_rpo(seeded_dsn: str, redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(seeded_dsn, redis_url, backup_dir=tmp_path)
    async with running_app(settings) as (_, client):
        before = (await client.get("/health")).json()["checks"]["backup:rpo"][0]
        started = await client.post("/admin/backups", headers=AUTH)
        assert started.status_code == 202
        backup_id = started.json()["backup_id"]

        async def listed() -> bool:
            body = (await client.get("/admin/backups", headers=AUTH)).json()
            return [b["backup_id"] for b in body["backups"]] == [backup_id] and not body["running"]

        await wait_for(listed)
        unknown = await client.post("/admin/backups/nope/verify", headers=AUTH)
        verified = await client.post(f"/admin/backups/{backup_id}/verify", headers=AUTH)
        after = (await client.get("/health")).json()["checks"]["backup:rpo"][0]
        metrics = (await client.get("/metrics")).text

    assert before["status"] == "warn" and before["observedValue"] is None
    assert unknown.status_code == 404
    assert verified.status_code == 200
    assert verified.json()["verified"] is True
    assert verified.json()["verification"]["restore_duration_s"] > 0
    assert after["status"] == "pass" and after["observedValue"] < 3600
    assert "athbench_backup_last_success_timestamp_seconds" in metrics
    assert "athbench_backup_restore_duration_seconds_count 1.0" in metrics


async def test_verify_of_a_corrupt_backup_is_a_409(seeded_dsn: str, redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(seeded_dsn, redis_url, backup_dir=tmp_path)
    async with running_app(settings) as (app, client):
        manifest = await app.state.backups.backup()
        path = tmp_path / manifest.file
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
        response = await client.post(f"/admin/backups/{manifest.backup_id}/verify", headers=AUTH)
    assert response.status_code == 409
    assert "SHA-256" in response.json()["detail"]


async def test_scheduled_backups_are_verified_and_retained(
    seeded_dsn: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATHBENCH_BACKUP_INTERVAL", "0.2")
    monkeypatch.setenv("ATHBENCH_BACKUP_KEEP", "2")
    settings = settings_for(seeded_dsn, redis_url, backup_dir=tmp_path)
    async with running_app(settings) as (app, client):
        service = app.state.backups

        async def rounds_done() -> bool:
            return service.completed >= 3 and any(m.verified for m in service.list())

        await wait_for(rounds_done)
        health = (await client.get("/health")).json()["checks"]["backup:rpo"][0]
        kept = service.list()
    assert service.failures == {}
    assert health["status"] == "pass"
    assert len(kept) <= 3  # keep 2 (+ the newest verified one, if older): retention deleted the rest
    assert not list(tmp_path.glob(".*"))  # no temporary files after a clean shutdown
