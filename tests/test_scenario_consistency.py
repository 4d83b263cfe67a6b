"""consistency against the real stack (2,000 properties): the optimized service answers no stale read in one
process, and the measurement does see staleness where it exists (the baseline's per-process dict cache
across two workers keeps the old value: nothing tells the other worker about the write)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack
from scenarios.consistency import SCENARIO
from tests.scenario_support import run_scenario, small_stack

pytestmark = pytest.mark.slow

SMALL = {"writes": 8, "repetitions": 1, "readers": 3, "observe_s": 0.2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("consistency-stack")) as running:
        yield running


def test_optimized_has_no_stale_read_in_process(stack: Stack, tmp_path: Path) -> None:
    result = run_scenario(SCENARIO, stack, "optimized", tmp_path, **SMALL)
    assert result.status == "complete", result.reason
    share = result.metrics["stale_read_share_in_process"]
    assert share.n == 1 and share.median == 0.0
    assert result.metrics["staleness_max_ms_in_process"].median == 0.0
    rep = result.details["per_mode"]["in_process"][0]
    assert rep["writes"] == 8 and rep["judged_reads"] >= 8 and rep["failed_reads"] == 0
    for name in ("stale_read_share", "staleness_p99_ms", "staleness_max_ms"):
        assert result.metrics[f"{name}_cross_process"].n == 1
    # cross-process invalidation is by pub/sub: well under the observation window
    assert result.metrics["staleness_max_ms_cross_process"].bound == "exact"
    assert len(stack.service_processes()) >= 1  # restarted with the default worker count


def test_baseline_across_two_workers_shows_stale_reads(stack: Stack, tmp_path: Path) -> None:
    result = run_scenario(SCENARIO, stack, "baseline", tmp_path, modes=["cross_process"], **SMALL)
    assert result.status == "complete", result.reason
    rep = result.details["per_mode"]["cross_process"][0]
    assert rep["stale_reads"] > 0, rep
    assert result.metrics["stale_read_share_cross_process"].median > 0
    worst = result.metrics["staleness_max_ms_cross_process"]
    assert worst.bound == "at_least" and worst.median >= 150.0  # still stale when the observation ended
    assert "stale_read_share_in_process" not in result.metrics
