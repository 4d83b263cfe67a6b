"""health_overhead against the real stack: the baseline's blocking CPU sample shows up, the optimized loop does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack
from scenarios.health_overhead import SCENARIO, bucket_quantile
from tests.scenario_support import run_scenario, small_stack

SHORT = {"test_interval_s": 0.5, "window_s": 1.5, "windows": 2, "settle_s": 0.5, "profile_s": 1.0}
METRICS = {
    "cpu_overhead_percent",
    "event_loop_lag_max_ms",
    "event_loop_lag_p99_ms",
    "health_round_ms",
    "health_interval_s",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("health-stack")) as running:
        yield running


def test_baseline_blocks_the_loop_and_optimized_does_not(stack: Stack, tmp_path: Path) -> None:
    baseline = run_scenario(SCENARIO, stack, "baseline", tmp_path, **SHORT)
    optimized = run_scenario(SCENARIO, stack, "optimized", tmp_path, **SHORT)
    for result in (baseline, optimized):
        assert result.status == "complete", result.reason
        assert set(result.metrics) == METRICS
        assert result.details["rounds"]["off"] == 0
        assert result.details["rounds"]["on"] >= 2
    b = {k: m.median for k, m in baseline.metrics.items()}
    o = {k: m.median for k, m in optimized.metrics.items()}
    # psutil.cpu_percent(interval=1) on the loop: each round takes ~1 s and stalls the loop that long
    assert b["health_round_ms"] > 900
    assert b["event_loop_lag_max_ms"] > 800
    assert o["health_round_ms"] < b["health_round_ms"] / 5
    assert o["event_loop_lag_max_ms"] < b["event_loop_lag_max_ms"] / 3
    assert (b["health_interval_s"], o["health_interval_s"]) == (30.0, 15.0)
    # the CPU figure is scaled to the nominal interval and stays a small share of one core
    for figures in (b, o):
        assert -1.0 < figures["cpu_overhead_percent"] < 5.0
    if "profile_error" not in baseline.details:
        names = [f["function"] for f in baseline.details["hot_frames"] if f["longest_hold_ms"] >= 200]
        assert any("cpu_percent" in name for name in names), names


def test_bucket_quantile_interpolates_inside_the_bucket() -> None:
    buckets = [(0.001, 90.0), (0.01, 9.0), (1.0, 1.0), (float("inf"), 0.0)]
    assert bucket_quantile(buckets, 0.5) == pytest.approx(0.001 * 50 / 90)
    assert bucket_quantile(buckets, 0.99) == pytest.approx(0.01)
    assert 0.01 < bucket_quantile(buckets, 0.995) < 1.0
    assert bucket_quantile([(0.001, 0.0), (float("inf"), 0.0)], 0.99) is None
