"""How the harness starts a load process: forked by the fork server (`harness.load.forkserver`), or as a
fresh interpreter when the server is off (``ATHBENCH_LOAD_FORKSERVER=0``) or cannot start.

Either way the load process runs ``harness.load.worker.main(argv)`` in its own session, with stdout and
stderr in a log file, and the harness gets a `LoadProcess` to wait for and to stop (with what it started:
Locust workers). The server is started at the first phase of a harness process, shared by its threads,
and stopped when the harness exits (its stdin closes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import psutil

SERVER_START_TIMEOUT_S = 60.0
POLL_S = 0.02


class LoadProcess:
    """A started load process: `wait` for its exit code, `stop` it and its session."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None, status_path: Path | None) -> None:
        self.pid = pid
        self._popen = popen
        self._status_path = status_path

    def poll(self) -> int | None:
        """The exit code once it has ended (-9 when it was killed before reporting one), else None."""
        if self._popen is not None:
            return self._popen.poll()
        if (code := self._reported()) is not None:
            return code
        try:
            if psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.NoSuchProcess:
            pass
        code = self._reported()  # read again: it may have reported between the first read and its exit
        return -signal.SIGKILL if code is None else code

    def _reported(self) -> int | None:
        """The exit code the fork server's child wrote to its status file, if it has yet."""
        assert self._status_path is not None
        try:
            text = self._status_path.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def wait(self, timeout: float) -> int:
        """Wait up to `timeout` seconds; `subprocess.TimeoutExpired` when it is still running."""
        if self._popen is not None:
            return self._popen.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"load process {self.pid}", timeout)
            time.sleep(POLL_S)
        return code

    def stop(self) -> None:
        """Stop the load process and everything in its session, politely then firmly."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(timeout=5.0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # whatever of the session is left, e.g. a Locust worker
        if self._popen is not None:
            self._popen.wait()
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(timeout=5.0)
        deadline = time.monotonic() + 2.0  # and until the fork server has reaped it: then it is gone
        while psutil.pid_exists(self.pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)


class ForkServer:
    """The client side of `harness.load.forkserver`: one server process, requests serialised by a lock."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "harness.load.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
            start_new_session=True,  # a terminal's Ctrl-C reaches the harness, which then closes our stdin
        )
        hello = self._reply(SERVER_START_TIMEOUT_S)
        if "ready" not in hello:
            self.close()
            raise RuntimeError(f"load fork server did not start: {hello}")

    def _reply(self, timeout: float) -> dict[str, object]:
        assert self._process.stdout is not None
        stdout: IO[bytes] = self._process.stdout
        timer = threading.Timer(timeout, self.close)
        timer.start()
        try:
            line = stdout.readline()
        finally:
            timer.cancel()
        if not line:
            raise RuntimeError(f"load fork server exited (code {self._process.poll()})")
        return dict(json.loads(line))

    def alive(self) -> bool:
        return self._process.poll() is None

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> LoadProcess:
        status_path = log_path.with_name(log_path.name + ".exit")
        status_path.unlink(missing_ok=True)
        request = {"argv": list(argv), "env": dict(env), "log": str(log_path), "status": str(status_path)}
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            self._process.stdin.flush()
            reply = self._reply(SERVER_START_TIMEOUT_S)
        if "pid" not in reply:
            raise RuntimeError(f"load fork server could not start a load process: {reply.get('error')}")
        return LoadProcess(int(reply["pid"]), None, status_path)  # type: ignore[call-overload]

    def close(self) -> None:
        """Close its stdin (it exits), then make sure it did."""
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_server: ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server(env: Mapping[str, str]) -> ForkServer | None:
    """The process' fork server, started on first use; None when it is turned off or cannot start."""
    global _server
    if os.environ.get("ATHBENCH_LOAD_FORKSERVER", "1") == "0":
        return None
    with _server_lock:
        if _server is None or not _server.alive():
            try:
                _server = ForkServer(env)
            except (OSError, RuntimeError, ValueError):
                _server = None
                return None
            atexit.register(_server.close)
        return _server


def start_load_process(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> LoadProcess:
    """Start ``harness.load.worker.main(argv)`` in a load process of its own session, logging to `log_path`."""
    server = _fork_server(env)
    if server is not None:
        try:
            return server.spawn(argv, env, log_path)
        except (OSError, RuntimeError, ValueError):
            pass  # a server that died mid-request: start this phase the slow way
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "harness.load.worker", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    return LoadProcess(popen.pid, popen, None)


def stop_fork_server() -> None:
    """Stop the fork server now (tests; it is stopped at exit anyway)."""
    global _server
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None
