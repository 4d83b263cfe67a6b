"""The sampler counts the CPU time of children that exit, once: ground truth from the parent's own
`os.times()` (the children's CPU the kernel credited it with when it waited for them)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from harness.sampler import Sampler

BURN_S = 0.5
# burns BURN_S of CPU, then exits
BURN = f"""
import time
while time.process_time() < {BURN_S}:
    pass
"""
# a child that starts the burner as its own child, waits for it and exits
MIDDLE = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN!r}], check=True)"
# the sampled root: idles, runs the tree below it to completion, prints the children's CPU it was credited
ROOT = """
import os, subprocess, sys, time
print("started", flush=True)
time.sleep(0.5)
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True)
c = os.times()
print(c.children_user + c.children_system, flush=True)
time.sleep(30)
"""


def _cpu_seconds(series: dict[str, dict]) -> float:
    """Integral of `cpu_percent.total` over the ticks (every tick appends `rss_mb.total`)."""
    ticks = series["rss_mb.total"]["t"]
    previous = {t: ticks[i - 1] for i, t in enumerate(ticks) if i > 0}
    cpu = series["cpu_percent.total"]
    return sum(v / 100.0 * (t - previous[t]) for t, v in zip(cpu["t"], cpu["v"], strict=True))


@pytest.mark.parametrize(
    ("tree_refresh_s", "child"),
    [
        (100.0, BURN),  # never rediscovered: the child is seen only in its parent's reaped time
        (0.05, BURN),  # sampled while it burns: its last sampled CPU must not be counted again when reaped
        (0.05, MIDDLE),  # a grandchild burns: reaped by the child, the child reaped by the root
    ],
    ids=["unseen-child", "sampled-child", "sampled-grandchild"],
)
def test_cpu_of_children_that_exit_is_counted_once(tree_refresh_s: float, child: str) -> None:
    root = subprocess.Popen([sys.executable, "-c", ROOT, child], stdout=subprocess.PIPE, text=True)
    try:
        process = psutil.Process(root.pid)
        assert root.stdout is not None
        assert root.stdout.readline().strip() == "started"  # its interpreter's start-up is before the window
        own_before = sum(process.cpu_times()[:2])  # it sleeps now: nothing runs until the sampler's first tick
        with Sampler({"app": root.pid}, interval_s=0.05, tree_refresh_s=tree_refresh_s) as sampler:
            children_s = float(root.stdout.readline())
            time.sleep(0.3)  # a few ticks after the reaping
            own_after = sum(process.cpu_times()[:2])
    finally:
        root.kill()
        root.wait()
    truth = children_s + own_after - own_before
    assert truth >= BURN_S - 0.02  # os.times() counts in clock ticks (10 ms)
    assert _cpu_seconds(sampler.result().series) == pytest.approx(truth, rel=0.1, abs=0.05)
