"""Locust's distributed mode on this host: a master plus N worker processes.

Runs inside the load process (gevent). The master binds 127.0.0.1 on a free port, starts
``python -m harness.load.worker --role worker`` N times, and lets Locust dispatch the users. Each worker
runs its share of the plan (rate / N, schedules interleaved by worker index) and, once drained, sends
its complete recorder (encoded HdrHistograms) and its request-template counts in one ``athbench_done``
message; the master merges the recorders exactly and passes the template counts on (merged exactly in
`harness.load.result`). Across hosts, start workers the same way pointing at the master's address, as Locust
documents; the merge is unchanged.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from time import monotonic
from typing import Any

import gevent

from harness.load.generator import GeneratorState, new_environment, spawn_rate
from harness.load.recorder import Recorder
from harness.load.spec import LoadSpec

CONNECT_TIMEOUT_S = 30.0
RESULT_GRACE_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_master(spec: LoadSpec, spec_path: Path) -> dict[str, Any]:
    """Run the phase on ``spec.workers`` local worker processes and merge their results."""
    env = new_environment(spec, GeneratorState(spec))
    port = free_port()
    runner = env.create_master_runner("127.0.0.1", port)
    done: dict[str, dict[str, Any]] = {}
    runner.register_message("athbench_done", lambda environment, msg, **_: done.update({msg.node_id: msg.data}))
    command = [sys.executable, "-m", "harness.load.worker", "--role", "worker", "--master-port", str(port)]
    workers = [subprocess.Popen([*command, str(spec_path)]) for _ in range(spec.workers)]
    try:
        _wait(lambda: len(runner.clients.ready) >= spec.workers, CONNECT_TIMEOUT_S, workers, "workers to connect")
        runner.start(spec.plan.users, spawn_rate=spawn_rate(spec.plan.users))
        budget = spec.warmup_s + spec.plan.duration_s + spec.drain_s + RESULT_GRACE_S
        _wait(lambda: len(done) >= spec.workers, budget, workers, "worker results")
        cpu_warning = runner.worker_cpu_warning_emitted
        runner.quit()
    finally:
        for process in workers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    merged = Recorder()
    processes: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []  # per worker: its template streams' summaries with counts
    for data in sorted(done.values(), key=lambda d: d["processes"][0]["index"]):
        merged.merge(Recorder.from_dict(data["recorder"]))
        processes.extend(data["processes"])
        templates.extend(data.get("templates", []))
    if cpu_warning:
        for process in processes:
            process["cpu_warning"] = True
    return {"recorder": merged.to_dict(), "processes": processes, "templates": templates}


def _wait(condition: Any, timeout_s: float, workers: list[subprocess.Popen[bytes]], what: str) -> None:
    deadline = monotonic() + timeout_s
    while not condition():
        dead = [p.pid for p in workers if p.poll() is not None]
        if dead:
            raise RuntimeError(f"load worker process(es) {dead} exited while waiting for {what}")
        if monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        gevent.sleep(0.05)
