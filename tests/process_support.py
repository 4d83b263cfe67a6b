"""What tests that start athbench as a child process and stop it with a signal need."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil


def interruptible() -> None:
    """`preexec_fn` for such a child: a shell that started the test run in the background ignores SIGINT,
    and children inherit that (Python then raises no KeyboardInterrupt); give it the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float = 180.0) -> str:
    """The child's output up to the line holding `marker`; fails, showing that output, if the child ends or
    `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    output = ""
    while marker not in output and time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line and proc.poll() is not None:
            break
        output += line
    assert marker in output, output
    return output


def assert_gone(pids: list[int], timeout_s: float = 10.0) -> None:
    """Every process in `pids` has exited (a zombie counts as exited) within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if alive:
            time.sleep(0.1)
    names = []
    for pid in alive:
        try:
            names.append(psutil.Process(pid).cmdline()[:3])
        except psutil.Error:
            names.append([str(pid)])
    assert not alive, f"orphan processes left: {names}"
