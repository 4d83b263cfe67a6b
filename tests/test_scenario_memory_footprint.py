"""memory_footprint against the real stack, and its growth slope on series with a known slope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.phase import Window
from harness.stack import Stack
from scenarios.memory_footprint import SCENARIO, growth
from tests.scenario_support import run_scenario, small_stack

SHORT = {
    "idle_s": 1.0,
    "rate": 50.0,
    "soak_s": 3.0,
    "warmup_s": 0.5,
    "windows": 3,
    "allocation_sites_s": 1.0,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("memory-stack")) as running:
        yield running


def test_footprint_and_allocation_sites(stack: Stack, tmp_path: Path) -> None:
    result = run_scenario(SCENARIO, stack, "optimized", tmp_path, **SHORT)
    m = {k: v.median for k, v in result.metrics.items()}
    assert set(m) == {"rss_idle_mb", "rss_steady_mb", "uss_steady_mb", "rss_growth_mb_per_min"}
    assert 20 < m["rss_idle_mb"] < 1000
    assert m["uss_steady_mb"] <= m["rss_steady_mb"]
    # the loaded service holds what the idle one held, plus request buffers and caches
    assert m["rss_steady_mb"] >= 0.95 * m["rss_idle_mb"]
    assert result.metrics["rss_steady_mb"].n == 3
    assert result.details["load"]["throughput_rps"] == pytest.approx(50.0, rel=0.25)
    sites = result.details.get("allocation_sites")
    assert sites is not None, result.details.get("allocation_sites_error")
    assert sites["top"] and all(s["size_kb"] > 0 and s["file"] and s["line"] > 0 for s in sites["top"])


def test_growth_recovers_a_known_slope() -> None:
    t = np.arange(0.0, 60.0, 0.1)
    rng = np.random.default_rng(3)
    leaking = {"t": t.tolist(), "v": (100.0 + t * (2.0 / 60.0) + rng.normal(0, 0.2, t.size)).tolist()}
    flat = {"t": t.tolist(), "v": (100.0 + rng.normal(0, 0.2, t.size)).tolist()}
    window = Window(0.0, 60.0)
    leak = growth(leaking, window)
    assert leak["slope_mb_per_min"] == pytest.approx(2.0, abs=0.1)
    assert leak["ci95_mb_per_min"][0] < 2.0 < leak["ci95_mb_per_min"][1]
    steady = growth(flat, window)
    assert steady["ci95_mb_per_min"][0] < 0.0 < steady["ci95_mb_per_min"][1]


def test_growth_interval_widens_for_autocorrelated_rss() -> None:
    t = np.arange(0.0, 60.0, 0.1)
    rng = np.random.default_rng(11)
    noise = np.zeros(t.size)
    for i in range(1, t.size):  # AR(1), phi = 0.9: neighbouring 10 Hz samples share most of their noise
        noise[i] = 0.9 * noise[i - 1] + rng.normal(0, 0.2)
    slope = growth({"t": t.tolist(), "v": (100.0 + noise).tolist()}, Window(0.0, 60.0))
    assert slope["effective_samples"] < slope["samples"] / 5
    assert slope["stderr_mb_per_min"] > 3 * slope["naive_stderr_mb_per_min"]
