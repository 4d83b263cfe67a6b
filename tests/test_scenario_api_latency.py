"""api_latency against the real stack: an injected server delay raises the measured percentiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.results import ScenarioResult
from harness.stack import Stack
from scenarios.api_latency import SCENARIO
from scenarios.base import ScenarioContext
from tests.scenario_support import small_stack

SHORT = {"rate": 40.0, "duration_s": 2.0, "warmup_s": 0.5, "repetitions": 1, "users": 20, "pin_cpus": False}
METRICS = {
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "throughput_rps",
    "error_rate",
    "server_error_rate",
    "service_cpu_percent",
    "window_hit_ratio",
}
READS = {"energy_assessment", "portfolio_overview", "market_comparison", "price_prediction"}
WRITES = {"property_patch", "assessment_post"}
DELAY_MS = 40.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("latency-stack"), test_knobs=True) as running:
        yield running


def run_with_delay(stack: Stack, out: Path, delay_ms: float) -> ScenarioResult:
    """Run the scenario with the test knob adding `delay_ms` to every request (set after the restart)."""
    stack.start_service("optimized")
    httpx.put(f"{stack.service_url}/_test/knobs", json={"delay_ms": delay_ms}, timeout=5).raise_for_status()
    params = {**SCENARIO.defaults, **SHORT}
    result = ScenarioResult(name=SCENARIO.name, profile="optimized", params=params)
    ctx = ScenarioContext(
        profile="optimized", out_dir=out, target_url=stack.service_url, stack=stack, log=lambda m: None
    )
    SCENARIO.execute(ctx, params, result)
    return result


def test_injected_delay_raises_p50(stack: Stack, tmp_path: Path) -> None:
    plain = run_with_delay(stack, tmp_path / "plain", 0.0)
    delayed = run_with_delay(stack, tmp_path / "delayed", DELAY_MS)
    for result in (plain, delayed):
        assert set(result.metrics) == METRICS
        assert result.metrics["error_rate"].median == 0.0
        assert result.metrics["throughput_rps"].median == pytest.approx(SHORT["rate"], rel=0.25)
        kinds = result.details["per_endpoint"][0]
        assert READS <= set(kinds) <= READS | WRITES  # 80 requests: a 2 % write may not come up
        assert result.details["spectrum"]["corrected"]
        hit_ratio = result.metrics["window_hit_ratio"].median
        assert 0.0 <= hit_ratio <= 1.0 and result.details["hit_ratio"] == [hit_ratio]
        sent = result.details["traffic"][0]["templates"]["energy_assessment"]["sent"]["id"]
        assert sent["distinct_values"] >= 0.5 * sent["requests"]  # spread over the database, not a hot set
    # which path was measured, hits and misses apart: the first run over a cold cache (Zipf over 2,000
    # properties, 80 requests: most reads are first reads, i.e. misses; the second run replays its stream)
    split = plain.details["by_cache"][0]
    assert plain.metrics["window_hit_ratio"].median < 0.9
    assert split["overall"]["MISS"]["count"] > 0 and split["overall"]["MISS"]["p95_ms"] > 0
    assert split["overall"]["MISS"]["p50_ms"] <= split["overall"]["MISS"]["p95_ms"]
    assert "MISS" in split["by_kind"]["energy_assessment"]
    p50_plain = plain.metrics["latency_p50_ms"].median
    p50_delayed = delayed.metrics["latency_p50_ms"].median
    assert p50_delayed >= p50_plain + 0.75 * DELAY_MS, (p50_plain, p50_delayed)
    # corrected latency is timed from the schedule, so it is never below the uncorrected one
    uncorrected = delayed.details["uncorrected"][0]
    assert delayed.metrics["latency_p50_ms"].median >= uncorrected["p50_ms"] - 0.01
    assert plain.timeseries["service_cpu_percent"].v, "the service was sampled"
