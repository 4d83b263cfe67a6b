"""The service as its own process (`python -m system_under_test`), configured by environment only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from harness.processes import free_port
from system_under_test.settings import Settings, SettingsError
from tests.sut_support import ADMIN_TOKEN, seeded_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, 1000) as (dsn, _):
        yield dsn


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"service exited with {proc.returncode}"
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout} s")


def test_service_process_binds_localhost_and_serves(seeded_dsn: str, redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ATHBENCH_POSTGRES_DSN": seeded_dsn,
        "ATHBENCH_REDIS_URL": redis_url,
        "ATHBENCH_PROFILE": "baseline",
        "ATHBENCH_ADMIN_TOKEN": ADMIN_TOKEN,
        "ATHBENCH_HEALTH_INTERVAL": "30",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "service.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "system_under_test", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc)
        listening = {
            c.laddr for c in psutil.Process(proc.pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
        }
        assert {(a.ip, a.port) for a in listening} == {("127.0.0.1", port)}
        r = httpx.get(f"{url}/api/v1/properties/1/energy-assessment", timeout=10)
        assert r.status_code == 200 and r.json()["property"]["id"] == 1
        assert 'athbench_service_info{profile="baseline"} 1.0' in httpx.get(f"{url}/metrics", timeout=10).text
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
    assert "Application shutdown complete" in (tmp_path / "service.log").read_text()


BOTH = {"ATHBENCH_POSTGRES_DSN": "postgresql://x", "ATHBENCH_REDIS_URL": "redis://x"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ATHBENCH_REDIS_URL": "redis://x"}, "ATHBENCH_POSTGRES_DSN is required"),
        ({"ATHBENCH_POSTGRES_DSN": "postgresql://x"}, "ATHBENCH_REDIS_URL is required"),
        ({**BOTH, "ATHBENCH_PROFILE": "turbo"}, "ATHBENCH_PROFILE must be one of"),
        ({**BOTH, "ATHBENCH_HEALTH_INTERVAL": "soon"}, "ATHBENCH_HEALTH_INTERVAL must be a number"),
        ({**BOTH, "ATHBENCH_HEALTH_INTERVAL": "-1"}, "ATHBENCH_HEALTH_INTERVAL must be a positive number"),
        ({**BOTH, "ATHBENCH_TEST_KNOBS": "yes"}, "ATHBENCH_TEST_KNOBS must be 1 or 0"),
        ({**BOTH, "ATHBENCH_DB_POOL_SIZE": "2.5"}, "ATHBENCH_DB_POOL_SIZE must be a whole number"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize(("profile", "interval"), [("baseline", 30.0), ("optimized", 15.0)])
def test_profile_defaults(profile: str, interval: float) -> None:
    s = Settings.from_env({"ATHBENCH_POSTGRES_DSN": "p", "ATHBENCH_REDIS_URL": "r", "ATHBENCH_PROFILE": profile})
    assert s.health_interval_s == interval
    assert s.test_knobs is False and s.admin_token is None and s.backup_dir is None
    assert Settings.from_env({"ATHBENCH_POSTGRES_DSN": "p", "ATHBENCH_REDIS_URL": "r"}).profile == "optimized"
