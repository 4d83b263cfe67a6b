"""health_overhead against the real stack: the baseline's blocking CPU sample shows up, the optimized loop does not.

The stack runs the health loop every NOMINAL_S seconds (instead of 30 / 15 s) so that the measured interval
between rounds can be checked against ground truth: the configured interval plus the round's own time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.prometheus import parse
from harness.stack import Stack
from scenarios.health_overhead import LAG_HISTOGRAM, LAG_MAX_GAUGE, SCENARIO, bucket_quantile, window_max_lag_s
from tests.scenario_support import run_scenario, small_stack

NOMINAL_S = 2.0
SHORT = {
    "test_interval_s": 0.5,
    "window_s": 1.5,
    "windows": 2,
    "settle_s": 0.5,
    "profile_s": 1.0,
    "interval_rounds": 2,
}
METRICS = {
    "cpu_overhead_percent",
    "event_loop_lag_max_ms",
    "event_loop_lag_p99_ms",
    "health_round_ms",
    "health_interval_s",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("health-stack"), health_interval=NOMINAL_S) as running:
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
    # the interval is measured, not configured: the baseline's ~1 s round lengthens its period
    assert (baseline.details["configured_interval_s"], optimized.details["configured_interval_s"]) == (2.0, 2.0)
    assert baseline.metrics["health_interval_s"].n == optimized.metrics["health_interval_s"].n == 2
    assert NOMINAL_S + 0.8 < b["health_interval_s"] < NOMINAL_S + 2.5
    assert NOMINAL_S - 0.05 < o["health_interval_s"] < b["health_interval_s"] - 0.5
    for result in (baseline, optimized):
        lag = result.metrics["event_loop_lag_max_ms"]
        assert lag.bound == ("exact" if result.details["lag"]["on_at_test_interval"]["max_exact"] else "at_most")
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


def _lag_scrape(max_s: float, counts: dict[str, float]) -> str:
    lines = [f"{LAG_MAX_GAUGE} {max_s}"]
    lines += [f'{LAG_HISTOGRAM}_bucket{{le="{le}"}} {n}' for le, n in counts.items()]
    return "\n".join(lines) + "\n"


def test_lag_max_is_exact_only_when_the_gauge_rose_inside_the_windows() -> None:
    first = parse(_lag_scrape(1.2, {"0.5": 10, "1.0": 10, "2.5": 11, "+Inf": 11}))
    risen = parse(_lag_scrape(1.4, {"0.5": 20, "1.0": 20, "2.5": 22, "+Inf": 22}))
    flat = parse(_lag_scrape(1.2, {"0.5": 20, "1.0": 21, "2.5": 21, "+Inf": 21}))
    buckets = [(0.5, 10.0), (1.0, 1.0), (2.5, 0.0), (float("inf"), 0.0)]
    assert window_max_lag_s(first, risen, buckets) == (1.4, True)
    # the gauge did not rise: the windows' max is in the (0.5, 1.0] bucket, so at most its edge
    assert window_max_lag_s(first, flat, buckets) == (1.0, False)
