"""capacity against the real stack: a CPU cost per request caps the sustainable rate and flattens the USL curve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.results import ScenarioResult
from harness.stack import Stack
from scenarios.base import ScenarioContext
from scenarios.capacity import SCENARIO, evaluate_steps, step_rates, sustainable
from tests.scenario_support import small_stack

BURN_MS = 10.0  # every mix request spins the event loop this long: at most 1000 / BURN_MS req/s
PARAMS = {
    "start_rps": 20.0,
    "step_factor": 2.0,
    "max_rps": 640.0,
    "step_s": 1,
    "step_warmup_s": 0.5,
    "steps_per_phase": 6,
    "concurrency_levels": [1, 2, 4, 8],
    "level_s": 1.0,
    "repetitions": 1,
    "pin_cpus": False,
}
METRICS = {
    "max_sustainable_rps",
    "max_rps_ratio_to_trivial",
    "usl_sigma",
    "usl_kappa",
    "properties_assessed_per_hour",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("capacity-stack"), test_knobs=True) as running:
        yield running


def test_cpu_burn_caps_capacity_below_the_trivial_endpoint(stack: Stack, tmp_path: Path) -> None:
    stack.start_service("optimized")
    httpx.put(f"{stack.service_url}/_test/knobs", json={"cpu_burn_ms": BURN_MS}, timeout=5).raise_for_status()
    params = {**SCENARIO.defaults, **PARAMS}
    result = ScenarioResult(name="capacity", profile="optimized", params=params)
    ctx = ScenarioContext("optimized", tmp_path, stack.service_url, stack, log=lambda m: None)
    SCENARIO.run(ctx, params, result)
    assert set(result.metrics) >= METRICS, result.details
    ceiling = 1000.0 / BURN_MS
    best = result.metrics["max_sustainable_rps"].median
    assert best <= ceiling
    assert result.details["limited_by"] == ["service"]
    # /_test/ping is never slowed by the knob: the same service sustains far more there
    assert result.metrics["max_rps_ratio_to_trivial"].median < 0.5
    for level in result.details["levels"][0]:
        assert level["throughput_rps"] <= 1.15 * ceiling
    # throughput no longer grows with concurrency: contention (sigma) dominates the fit
    assert result.metrics["usl_sigma"].median > 0.5
    share = result.metrics["properties_assessed_per_hour"].median / (best * 3600.0)
    assert share == pytest.approx(0.4, abs=0.1)
    assert result.details["usl"]["curve"]


class _Series:
    """The per-second series a step-up phase yields (a stand-in for LoadResult.timeseries)."""

    def __init__(self, counts: list[int], p95: list[float], errors: list[int] | None = None) -> None:
        t = list(range(len(counts)))
        self.timeseries = {
            "throughput_rps": {"t": t, "v": counts},
            "errors_per_s": {"t": t, "v": errors or [0] * len(counts)},
            "latency_p95_ms": {"t": t, "v": p95},
            "generator_cpu_percent_local0": {"t": [x + 1.0 for x in t], "v": [20.0] * len(counts)},
        }


def test_first_step_over_the_slo_ends_the_search() -> None:
    rates = step_rates(100.0, 2.0, 800.0)
    assert rates == [100.0, 200.0, 400.0, 800.0]
    phase = _Series(counts=[100, 200, 380, 500], p95=[5.0, 8.0, 150.0, 900.0])
    params = {**SCENARIO.defaults, "slo_p95_ms": 100.0}
    steps = evaluate_steps(phase, rates, 1, params)  # type: ignore[arg-type]
    assert [s["passed"] for s in steps] == [True, True, False]
    assert sustainable(steps) == (200.0, "service")


def test_errors_and_falling_behind_fail_a_step() -> None:
    params = {**SCENARIO.defaults}
    errors = evaluate_steps(_Series([100], [5.0], errors=[5]), [100.0], 1, params)  # type: ignore[arg-type]
    behind = evaluate_steps(_Series([80], [5.0]), [100.0], 1, params)  # type: ignore[arg-type]
    assert not errors[0]["passed"] and "errors" in errors[0]["reasons"][0]
    assert not behind[0]["passed"] and "answered 80" in behind[0]["reasons"][0]
