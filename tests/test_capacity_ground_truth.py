"""Ground truth: a server that burns k ms of CPU per request, one at a time, sustains about 1000 / k req/s,
and the capacity search with real load phases (Locust, HdrHistogram, the open model) finds that rate."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.capacity_search import SearchConfig, StepOutcome, search
from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.runner import run_load
from harness.phase import schedstat_seconds
from scenarios.capacity import step_outcome
from tests.burn_server import burn

BURN_MS = 4.0  # 250 req/s at most
MAX_CPU_WAIT = 0.25  # above this share of its runnable time waiting for a CPU, the server had no whole core


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def burn_server() -> Iterator[tuple[str, int]]:
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.burn_server", str(port), str(BURN_MS)], cwd=root, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.kill()
        process.wait()


def test_the_burn_costs_what_it_says() -> None:
    start = time.process_time()
    for _ in range(50):
        burn(BURN_MS)
    assert (time.process_time() - start) * 1000.0 / 50 == pytest.approx(BURN_MS, rel=0.05)


def test_search_finds_the_capacity_of_a_calibrated_cpu_burn(burn_server: tuple[str, int]) -> None:
    url, pid = burn_server
    config = SearchConfig(
        slo_p95_ms=100.0, start_rps=60.0, max_rps=2000.0, ramp_factor=2.0, resolution=0.1, min_requests=300
    )

    def measure(rate: float, duration_s: float) -> StepOutcome:
        plan = OpenPlan.constant(rate, duration_s, users=100)
        load = run_load(url, plan, endpoints=[Endpoint("/burn")], warmup_s=0.5, drain_s=1.0)
        return step_outcome(load, rate)

    run_before, wait_before = schedstat_seconds(pid)
    found = search(measure, config)
    run_s, wait_s = (a - b for a, b in zip(schedstat_seconds(pid), (run_before, wait_before), strict=True))
    if wait_s > MAX_CPU_WAIT * (run_s + wait_s):
        # the server was runnable but waiting for a CPU: its capacity is not 1000 / k, no ground truth here
        pytest.skip(f"machine too busy: the server waited {wait_s:.1f} s for a CPU and ran {run_s:.1f} s")
    ceiling = 1000.0 / BURN_MS
    steps = [(round(s.rate), s.stage, s.outcome.p95_ms, s.reasons) for s in found.steps]
    assert found.rate_rps is not None, steps
    # the machine is shared: the server may get less than a whole core, never more
    assert 0.5 * ceiling <= found.rate_rps <= 1.1 * ceiling, steps
    assert found.limited_by == "service", steps
    # a rate 1.5x over the ceiling can never pass: the search saw it fail
    assert not any(s.passed for s in found.steps if s.rate > 1.5 * ceiling), steps
    # a step that passed held enough requests for its p95 (a backlogged one answers fewer: it fails anyway)
    assert all(s.outcome.requests >= 0.9 * config.min_requests for s in found.steps if s.passed), steps
