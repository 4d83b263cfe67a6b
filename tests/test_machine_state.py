"""The failure report's machine section names the process that took the CPU during a test."""

from __future__ import annotations

import subprocess
import sys

from tests import machine_state


def test_a_busy_process_is_named_with_its_cpu_seconds() -> None:
    before = machine_state.snapshot()
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 5: pass"])
    try:
        while True:  # until it has used 0.5 s of CPU (a busy machine gives it less than the wall time)
            after = machine_state.snapshot()
            if after.processes.get(busy.pid, ("", 0.0))[1] >= 0.5 or busy.poll() is not None:
                break
    finally:
        busy.kill()
        busy.wait()
    text = machine_state.describe(before, after)
    lines = text.splitlines()
    assert "CPUs: busy" in lines[0] and "steal" in lines[0]
    named = [line for line in lines[1:] if f"pid {busy.pid} " in line]
    assert named and float(named[0].split()[0]) >= 0.5, text
