"""The psutil sampler: a real process tree, its own cost, Prometheus gauges."""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest

from harness.sampler import Sampler, roots_named

# A parent that idles and a child that holds ~60 MB and burns CPU for a few seconds.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import time
ballast = bytearray(60 * 1024 * 1024)
for i in range(0, len(ballast), 4096):
    ballast[i] = 1
end = time.time() + 4
while time.time() < end:
    pass
'''])
child.wait()
"""


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", TREE])
    deadline = time.monotonic() + 5
    while not psutil.Process(process.pid).children() and time.monotonic() < deadline:
        time.sleep(0.02)
    child = psutil.Process(process.pid).children()[0]
    while child.memory_info().rss < 60 * 1024 * 1024 and time.monotonic() < deadline + 5:
        time.sleep(0.02)  # let the child touch its ballast
    yield process
    for child in psutil.Process(process.pid).children(recursive=True):
        child.kill()
    process.kill()
    process.wait()


def test_samples_the_tree_and_its_own_cost(tree: subprocess.Popen[bytes]) -> None:
    child = psutil.Process(tree.pid).children()[0]
    cpu_before, wall_before = sum(child.cpu_times()[:2]), time.perf_counter()
    with Sampler({"app": tree.pid}, interval_s=0.1) as sampler:
        time.sleep(1.5)
    cpu_after, wall_after = sum(child.cpu_times()[:2]), time.perf_counter()
    result = sampler.result()
    child_label = next(label for label, pid in result.processes.items() if pid == child.pid)
    parent_label = f"app/{psutil.Process(tree.pid).name()}:{tree.pid}"  # python or python3, as started
    assert child_label.startswith("app/") and parent_label in result.processes
    # the busy child's CPU %, against its own CPU time over the same span (the CPUs are shared)
    truth = 100.0 * (cpu_after - cpu_before) / (wall_after - wall_before)
    sampled = statistics.fmean(result.series[f"cpu_percent.{child_label}"]["v"])
    assert truth > 10 and sampled == pytest.approx(truth, rel=0.25)
    assert statistics.fmean(result.series["cpu_percent.app"]["v"]) == pytest.approx(sampled, rel=0.25, abs=3)
    assert statistics.fmean(result.series[f"cpu_percent.{parent_label}"]["v"]) < 5  # the idle parent
    assert max(result.series[f"rss_mb.{child_label}"]["v"]) > 60
    assert max(result.series["uss_mb.app"]["v"]) > 55
    assert result.series["threads.app"]["v"][-1] >= 2
    assert result.series["open_files.app"]["v"][-1] >= 3
    assert "ctx_switches_per_s.total" in result.series
    for name in ("cpu_percent.app", "rss_mb.total"):
        series = result.series[name]
        assert series["unit"] in ("%", "MB") and len(series["t"]) == len(series["v"])
        assert series["t"] == sorted(series["t"]) and series["t"][-1] <= 1.6
    cost = result.cost
    assert 12 <= cost["samples"] <= 17
    assert cost["achieved_interval_s"] == pytest.approx(0.1, rel=0.3)
    assert 0 < cost["cpu_percent_of_core"] < 10  # the < 1 % goal is a reported figure, not a timed test
    assert result.started_epoch is not None and abs(result.started_epoch - time.time()) < 5


def test_processes_that_exit_are_dropped_without_error() -> None:
    short = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    watched = psutil.Process(short.pid)
    try:
        with Sampler({"short": short.pid, "me": psutil.Process().pid}, interval_s=0.05) as sampler:
            deadline = time.monotonic() + 10
            while watched.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.02)  # exited, not yet reaped: must be dropped all the same
            time.sleep(0.4)
    finally:
        short.wait()
    series = sampler.result().series
    assert series["rss_mb.short"]["t"][-1] < series["rss_mb.me"]["t"][-1] - 0.3
    assert series["cpu_percent.total"]["t"][-1] == series["rss_mb.me"]["t"][-1]


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE athbench_event_loop_lag_last_seconds gauge\nathbench_event_loop_lag_last_seconds 0.0125\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


def test_scrapes_prometheus_gauges() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        gauges = {"event_loop_lag_s": "athbench_event_loop_lag_last_seconds"}
        with Sampler({"me": psutil.Process().pid}, metrics_url=url, gauges=gauges) as sampler:
            time.sleep(1.2)
    finally:
        server.shutdown()
        server.server_close()
    lag = sampler.result().series["event_loop_lag_s"]
    assert lag["v"] and set(lag["v"]) == {0.0125}


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="at least one process"):
        Sampler({})
    with pytest.raises(ValueError, match="interval_s"):
        Sampler({"me": psutil.Process().pid}, interval_s=0)
    with pytest.raises(ValueError, match="total"):
        Sampler({"total": psutil.Process().pid})
    with pytest.raises(psutil.NoSuchProcess):
        Sampler({"gone": 2**22 + 12345})


def test_roots_by_process_name(tree: subprocess.Popen[bytes]) -> None:
    roots = roots_named("ballast = bytearray")  # in both command lines: the child is sampled under its parent
    assert [p.pid for p in roots.values()] == [tree.pid]
    with pytest.raises(ValueError, match="no running process"):
        roots_named("surely-no-such-process-athbench")
