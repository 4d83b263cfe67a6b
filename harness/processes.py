"""Child processes the harness starts: each in its own process group, all stopped on exit or signal.

`ProcessGroup` owns a list of children. `stop_all()` sends each child's stop signal (SIGTERM; SIGINT, the
fast shutdown, for PostgreSQL) to its process group, waits, then SIGKILLs what is left, so a child's own
children (postgres backends, uvicorn workers) go too.
`install_signal_handlers()` turns SIGTERM into KeyboardInterrupt so `with` blocks unwind and clean up.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

_LIVE_GROUPS: weakref.WeakSet[ProcessGroup] = weakref.WeakSet()


class ProcessError(RuntimeError):
    """A child process failed to start or exited early; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port (or it cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections in TIME_WAIT do not count
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0, proc: Child | None = None) -> None:
    """Wait until host:port accepts connections; raise ProcessError on timeout or if `proc` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise ProcessError(f"{proc.name} exited with code {proc.popen.returncode}\n{proc.log_tail()}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    tail = f"\n{proc.log_tail()}" if proc is not None else ""
    raise ProcessError(f"timed out after {timeout:.0f}s waiting for {host}:{port}{tail}")


class Child:
    """One started process with its log file."""

    def __init__(
        self, name: str, popen: subprocess.Popen[bytes], log_path: Path, stop_signal: int = signal.SIGTERM
    ) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.stop_signal = stop_signal  # PostgreSQL: SIGINT, its fast shutdown (SIGTERM waits for clients)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def psutil_process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Send the stop signal to the child's process group (SIGTERM unless the child was started with
        another), wait for it, then SIGKILL whatever is left after `timeout`."""
        if self.popen.poll() is not None:
            _kill_group(self.popen.pid, signal.SIGKILL)
            return
        try:
            descendants = psutil.Process(self.popen.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        _kill_group(self.popen.pid, self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        _gone, alive = psutil.wait_procs(descendants, timeout=timeout)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ProcessGroup:
    """The set of children one stack started; stopped in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        _LIVE_GROUPS.add(self)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Child:
        """Start `argv` in a new session (own process group), logging stdout and stderr to a file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                user=user,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessError(f"could not start {name} ({argv[0]}): {exc}") from exc
        finally:
            log.close()
        child = Child(name, popen, log_path, stop_signal)
        self.children.append(child)
        return child

    def remove(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        while self.children:
            self.children.pop().stop()


def _stop_every_group() -> None:
    for group in list(_LIVE_GROUPS):
        group.stop_all()


atexit.register(_stop_every_group)


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread, like Ctrl-C, so cleanup runs."""

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)
