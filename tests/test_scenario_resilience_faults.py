"""resilience_faults: a fault makes availability drop and its recovery time gets recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from harness.probe import Probe
from harness.stack import Stack
from scenarios.resilience_faults import SCENARIO, FaultWindow, _recovery
from tests.scenario_support import run_scenario, small_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("fault-stack")) as running:
        yield running


def probe(t: float, status: int | None, latency_s: float = 0.01) -> Probe:
    return Probe(index=0, path="/", scheduled=t, sent=t, latency_s=latency_s, status=status)


def test_recovery_is_the_first_moment_from_which_traffic_stays_normal() -> None:
    window = FaultWindow("x", normal_from=0.0, injected=2.0, cleared=4.0, observed_until=8.0)
    # after clearing: 503s for 1.2 s, then fine; a single late slow answer is within the p95 limit
    probes = [probe(4.0 + i * 0.05, 503 if i * 0.05 < 1.2 else 200) for i in range(80)]
    seconds, recovered = _recovery(probes, window, normal=(0.0, 0.01), hang_s=5.0)
    assert recovered and seconds == pytest.approx(1.5)  # the first whole 0.5 s bucket without errors
    failing = [probe(4.0 + i * 0.05, 503) for i in range(80)]
    seconds, recovered = _recovery(failing, window, normal=(0.0, 0.01), hang_s=5.0)
    assert not recovered and seconds == pytest.approx(4.0)  # a lower bound: the whole observation


def test_postgres_pause_drops_availability_and_recovery_is_recorded(stack: Stack, tmp_path: Path) -> None:
    result = run_scenario(
        SCENARIO,
        stack,
        "optimized",
        tmp_path,
        faults=["redis_killed", "postgres_paused"],
        rate_rps=30.0,
        normal_s=1.5,
        fault_s=3.0,
        recover_s=4.0,
        lag_tolerance_ms=1000.0,
    )
    faults = {f["fault"]: f for f in result.details["faults"]}
    assert set(faults) == {"redis_killed", "postgres_paused"}
    assert faults["postgres_paused"]["error_rate"] > 0.05
    m = {name: metric.median for name, metric in result.metrics.items()}
    # the whole-run figures hold every request of the fault windows: they agree with the per-fault counts
    in_fault = sum(f["requests"] for f in faults.values())
    failed_in_fault = sum(f["error_rate"] * f["requests"] for f in faults.values())
    assert m["fault_error_rate"] == pytest.approx(failed_in_fault / in_fault)
    assert m["availability"] <= 1 - failed_in_fault / result.details["requests"] + 1e-9
    assert m["hung_requests"] >= sum(f["hung_requests"] for f in faults.values())
    assert result.metrics["recovery_time_s"].n == 2
    assert all(0 <= f["recovery_time_s"] <= 4.5 for f in faults.values())  # at most the observation
    assert faults["postgres_paused"]["timeline"]
    # every fault was undone: Redis is back on its port, and the service gets ready again
    assert redis.Redis.from_url(stack.redis_url).ping()
    deadline = time.monotonic() + 30
    while httpx.get(f"{stack.service_url}/health/ready", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the service did not get ready within 30 s of the faults"
        time.sleep(0.5)
