"""cache_hit_ratio against the real stack: the measured L1 ratio follows the L1's size and its LRU figure."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack
from scenarios.cache_hit_ratio import SCENARIO
from tests.scenario_support import run_scenario, small_stack

TRACE = {"trace_length": 1500, "warmup_requests": 300, "zipf_alpha": 1.0, "concurrency": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("cache-stack")) as running:
        yield running


def ratios(result) -> dict[str, float]:
    return {name: metric.median for name, metric in result.metrics.items()}


def test_smaller_l1_gives_lower_l1_hit_ratio(stack: Stack, tmp_path: Path) -> None:
    small = run_scenario(SCENARIO, stack, "optimized", tmp_path, l1_max_entries=30, **TRACE)
    large = run_scenario(SCENARIO, stack, "optimized", tmp_path, l1_max_entries=600, **TRACE)
    assert small.status == large.status == "complete", (small.reason, large.reason)
    s, big = ratios(small), ratios(large)
    assert s["hit_ratio_l1"] < big["hit_ratio_l1"] - 0.15
    assert small.details["repetitions"][0]["l1_capacity_entries"] == 30
    for r in (s, big):
        # the service's L1 is an LRU: it lands near the offline LRU figure, never above the optimum
        assert r["hit_ratio_l1"] == pytest.approx(r["hit_ratio_lru_sim"], abs=0.08)
        assert r["hit_ratio_l1"] <= r["hit_ratio_belady"] + 0.02
        assert r["hit_ratio_belady"] >= r["hit_ratio_lru_sim"]
        assert 0 < r["cached_latency_p95_ms"] < 5_000
    for result in (small, large):
        rep = result.details["repetitions"][0]
        origin, requests = rep["counts"]["origin"], sum(rep["counts"]["l1"].values())
        # a read that joined another's in-flight load is a miss in the graded ratio and in the simulation
        assert result.metrics["hit_ratio_overall"].median == pytest.approx(
            1 - (origin["load"] + origin["coalesced"]) / requests
        )
        assert rep["lru_sim"] <= rep["lru_sim_instantaneous"]
    # both start cold over the same trace: overall is bounded by the repeat reads whatever the L1 size,
    # and a small L1 pushes its misses to Redis (L2), which answers most of them
    never_evicting = small.details["repetitions"][0]["never_evicting_ratio"]
    assert s["hit_ratio_overall"] == pytest.approx(never_evicting, abs=0.03)
    assert big["hit_ratio_overall"] == pytest.approx(never_evicting, abs=0.03)
    assert s["hit_ratio_l2"] > 0.3
    # the capacity plan's inputs: the trace's LRU curve and what one cached value costs in Redis
    rep = small.details["repetitions"][0]
    curve = rep["lru_curve"]
    assert curve[-1][0] >= 30 and all(b[1] >= a[1] for a, b in itertools.pairwise(curve))
    assert 100 < rep["redis_bytes_per_key"]["bytes_per_key"] < 100_000


def test_baseline_has_no_l2_and_is_compared_with_a_never_evicting_cache(stack: Stack, tmp_path: Path) -> None:
    result = run_scenario(SCENARIO, stack, "baseline", tmp_path, **TRACE)
    r = ratios(result)
    assert "hit_ratio_l2" not in r and "hit_ratio_l3" not in r
    assert set(result.details["absent_tiers"]) == {"l2", "l3"}
    assert result.details["repetitions"][0]["l1_capacity_entries"] is None
    assert result.details["repetitions"][0]["redis_bytes_per_key"]["bytes_per_key"] is None  # no L2
    assert r["hit_ratio_lru_sim"] == r["hit_ratio_belady"]
    assert r["hit_ratio_l1"] == pytest.approx(r["hit_ratio_belady"], abs=0.03)


def test_a_restart_empties_the_baseline_dict_but_not_the_shared_tier(stack: Stack, tmp_path: Path) -> None:
    # the same trace under both profiles, the service restarted between warm-up and measured part
    params = {**TRACE, "l1_max_entries": 600, "restart_after_warmup": True}
    baseline = ratios(run_scenario(SCENARIO, stack, "baseline", tmp_path, **params))
    optimized_run = run_scenario(SCENARIO, stack, "optimized", tmp_path, **params)
    optimized = ratios(optimized_run)
    assert optimized_run.details["repetitions"][0]["restarted_after_warmup"] is True
    # the baseline starts from an empty dict: it can hit only keys read again after the restart,
    # which is exactly the cold never-evicting figure
    assert baseline["hit_ratio_overall"] == pytest.approx(baseline["hit_ratio_belady"], abs=0.03)
    # the optimized service keeps what lives outside the process: its start-up warming reloads the
    # most-read keys from Redis, so it beats what any cache starting empty could do on this part
    assert optimized["hit_ratio_overall"] > optimized["hit_ratio_belady"] + 0.03
    assert optimized["hit_ratio_overall"] > baseline["hit_ratio_overall"] + 0.05
