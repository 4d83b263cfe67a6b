"""Ctrl-C during a load phase stops the load process and its Locust workers (no orphans)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

import harness
from tests.process_support import interruptible

SCRIPT = """
import sys
from harness.load import ClosedPlan, Endpoint, run_load
try:
    run_load(sys.argv[1], ClosedPlan(users=4, duration_s=60), endpoints=[Endpoint("/")], workers=2, warmup_s=0)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_stops_every_load_process() -> None:
    repo = str(Path(harness.__file__).resolve().parents[1])
    # the target refuses connections: the load itself does not matter, only the processes do
    harness_process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "http://127.0.0.1:9"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": repo},
        preexec_fn=interruptible,
    )
    parent = psutil.Process(harness_process.pid)
    try:
        deadline = time.monotonic() + 30
        descendants: list[psutil.Process] = []
        while len(descendants) < 3 and time.monotonic() < deadline:  # load process (master) + 2 workers
            time.sleep(0.2)
            descendants = parent.children(recursive=True)
        assert len(descendants) >= 3, "the load process and its workers did not start"
        harness_process.send_signal(signal.SIGINT)
        out, _ = harness_process.communicate(timeout=30)
        assert "interrupted" in out and harness_process.returncode == 130
        _gone, alive = psutil.wait_procs(descendants, timeout=10)
        assert not alive, f"left running: {[p.pid for p in alive]}"
    finally:
        for process in [parent, *descendants]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        harness_process.wait()
