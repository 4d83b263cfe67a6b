"""The stack: comes up on loopback, answers every endpoint, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from harness.processes import free_port
from harness.stack import Stack, StackConfig, StackError
from tests.process_support import assert_gone, interruptible, read_until

SMALL = 1_000
ATHBENCH = [sys.executable, "-m", "harness"]


def _stack_pids(stack: Stack) -> list[int]:
    return [p.pid for procs in stack.processes().values() for p in procs]


def test_stack_up_ready_on_loopback_and_stops_clean(tmp_path: Path) -> None:
    with Stack(StackConfig(tmp_path, profile="baseline", seed_properties=SMALL)) as stack:
        assert stack.service_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{stack.service_url}/health/ready").status_code == 200
        assert httpx.get(f"{stack.service_url}/health/live").status_code == 200
        listening = {
            c.laddr.ip for p in stack.service_processes() for c in p.net_connections("tcp") if c.status == "LISTEN"
        }
        assert listening == {"127.0.0.1"}
        assert set(stack.processes()) >= {"postgres", "redis", "upstream", "service-baseline"}
        pids = _stack_pids(stack)
        stack.start_service("optimized")
        assert httpx.get(f"{stack.service_url}/health/ready").status_code == 200
        pids += _stack_pids(stack)
    assert_gone(pids)


def test_external_servers_replace_embedded(tmp_path: Path, fresh_db_dsn: str, redis_url: str) -> None:
    config = StackConfig(tmp_path, postgres_dsn=fresh_db_dsn, redis_url=redis_url, seed_properties=SMALL)
    with Stack(config) as stack:
        assert stack.embedded_postgres is None and stack.embedded_redis is None
        assert "postgres" not in stack.processes() and "redis" not in stack.processes()
        assert httpx.get(f"{stack.service_url}/api/v1/properties/1/energy-assessment").status_code == 200


def test_unreachable_external_dsn_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    config = StackConfig(tmp_path, postgres_dsn=f"postgresql://postgres@127.0.0.1:{port}/x", seed_properties=SMALL)
    with pytest.raises(Exception, match=f"cannot reach PostgreSQL at 127.0.0.1:{port}"):
        Stack(config).start()


def test_service_port_in_use_is_a_clear_error(tmp_path: Path, embedded_redis) -> None:
    config = StackConfig(tmp_path, service_port=embedded_redis.port, seed_properties=SMALL, upstream=False)
    stack = Stack(config)
    with pytest.raises(StackError, match=f"port 127.0.0.1:{embedded_redis.port} is already in use"):
        stack.start()
    assert not stack.group.children, "the parts already started must be stopped again"


def test_stack_up_check_cli(tmp_path: Path) -> None:
    """`athbench stack up --check` works with its run directory below a private (0700) home, and, as root,
    leaves that home private (the server user's binaries and data live elsewhere: harness.server_user)."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    done = subprocess.run(
        [*ATHBENCH, "stack", "up", "--check", "--properties", str(SMALL), "--run-dir", str(home / "run")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "http://127.0.0.1:" in done.stdout
    assert "endpoints answered as documented" in done.stdout
    assert "PermissionError" not in done.stdout + done.stderr
    assert oct(home.stat().st_mode & 0o777) == oct(0o700)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_every_child(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*ATHBENCH, "stack", "up", "--properties", str(SMALL), "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        read_until(proc, "Press Ctrl-C")
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        names = {psutil.Process(p).name() for p in children}
        assert {"postgres", "redis-server"} <= names, names
        os.kill(proc.pid, sig)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(children)
