"""backup_time against the real stack: a verified restore and plausible ratios in both profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack
from scenarios.backup_time import SCENARIO
from tests.scenario_support import run_scenario, small_stack

PARAMS = {"live_rate_rps": 30.0, "live_s": 1.5, "live_keys": 50}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("backup-stack")) as running:
        yield running


@pytest.mark.parametrize("profile", ["baseline", "optimized"])
def test_backup_restores_verified_with_plausible_ratios(stack: Stack, tmp_path: Path, profile: str) -> None:
    result = run_scenario(SCENARIO, stack, profile, tmp_path, **PARAMS)
    m = {name: metric.median for name, metric in result.metrics.items()}
    rep = result.details["repetitions"][0]
    assert m["restore_verified"] == 1.0
    assert rep["verification"]["ok"] is True
    assert m["restore_duration_s"] > 0
    assert rep["backup"]["profile"] == profile
    # both compress (gzip / zstd) text-heavy rows well below the raw -Z0 dump, and it is the same raw dump
    assert 0.05 < m["compression_ratio"] < 0.8
    assert m["compression_ratio"] == pytest.approx(rep["backup"]["bytes_compressed"] / rep["raw_bytes"])
    assert m["backup_time_ratio"] == pytest.approx(m["backup_duration_s"] / m["raw_dump_duration_s"])
    assert 0.05 < m["backup_time_ratio"] < 50
    assert m["backup_throughput_mb_s"] == pytest.approx(rep["raw_bytes"] / 1e6 / m["backup_duration_s"])
    assert rep["samples_quiet"] > 20 and rep["samples_during"] > 0
    assert m["live_p95_backup_ratio"] > 0


def test_bigger_database_gives_bigger_dump(stack: Stack, tmp_path: Path) -> None:
    small = run_scenario(SCENARIO, stack, "optimized", tmp_path, **PARAMS)
    big = run_scenario(SCENARIO, stack, "optimized", tmp_path, database_properties=6_000, **PARAMS)
    assert big.details["properties"] == 6_000 and big.details["database"] == "athbench_backup_6000"
    assert big.details["repetitions"][0]["raw_bytes"] > 2 * small.details["repetitions"][0]["raw_bytes"]
    assert big.metrics["restore_verified"].median == 1.0
