"""harness.history: tidy table, change points at the right index, commit-range attribution, charts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.history import detect_change_points, find_changes, load_history, noise_scale
from harness.results import Metric, RunResults, ScenarioResult, save

STEP_AT = 18
RUNS = 30


def _nightly(directory: Path, values: np.ndarray, statuses: dict[int, str] | None = None) -> list[Path]:
    paths = []
    for i, value in enumerate(values):
        samples = [value * f for f in (0.99, 1.0, 1.01)]
        status = (statuses or {}).get(i, "complete")
        run = RunResults(
            run_id=f"night-{i:02d}",
            pack="nightly",
            status="complete" if status == "complete" else "incomplete",
            started_at=f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00",
            environment={"git_commit": f"c{i:02d}" + "0" * 37},
            scenarios=[
                ScenarioResult(
                    name="api_latency",
                    profile="optimized",
                    status=status,
                    metrics={
                        "latency_p95_ms": Metric.from_samples(samples, unit="ms", better="lower"),
                        "throughput_rps": Metric.from_samples([500.0, 501.0, 499.0], unit="rps", better="higher"),
                    },
                )
            ],
        )
        paths.append(save(run, directory / run.run_id / "results.json"))
    return paths


def _stepped(seed: int = 7) -> np.ndarray:
    values = np.random.default_rng(seed).normal(20.0, 0.3, RUNS)
    values[STEP_AT:] *= 1.10  # a 10 % slowdown from run 18 on
    return values


def test_step_is_found_at_the_right_index() -> None:
    assert detect_change_points(_stepped()) == [STEP_AT]


def test_no_change_point_in_pure_noise() -> None:
    rng = np.random.default_rng(11)
    found = [detect_change_points(rng.normal(20.0, 0.3, RUNS)) for _ in range(50)]
    assert sum(bool(f) for f in found) <= 5  # at most 10 % of noise-only series


def test_noise_scale_ignores_the_step() -> None:
    assert noise_scale(_stepped()) == pytest.approx(0.3, rel=0.4)


def test_bad_series_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        detect_change_points([1.0, float("nan"), 2.0, 3.0, 4.0, 5.0])


def test_change_point_is_attributed_to_the_commit_range(tmp_path: Path) -> None:
    _nightly(tmp_path, _stepped())
    frame = load_history([tmp_path])
    assert frame["run_id"].nunique() == RUNS and list(frame["run_index"].unique()) == list(range(RUNS))
    (change,) = find_changes(frame)  # throughput is flat: only the latency series changes
    assert (change.scenario, change.metric, change.index) == ("api_latency", "latency_p95_ms", STEP_AT)
    assert change.run_before == f"night-{STEP_AT - 1:02d}" and change.run_after == f"night-{STEP_AT:02d}"
    assert change.commit_before == f"c{STEP_AT - 1:02d}" + "0" * 37
    assert change.commit_after == f"c{STEP_AT:02d}" + "0" * 37
    assert change.commit_range == f"c{STEP_AT - 1:02d}" + "0" * 9 + f"..c{STEP_AT:02d}" + "0" * 9
    assert change.ratio == pytest.approx(1.10, abs=0.04)


def test_invalid_runs_are_left_out_of_detection(tmp_path: Path) -> None:
    values = np.random.default_rng(3).normal(20.0, 0.3, RUNS)
    values[10] = 40.0  # an outlier from a run marked invalid
    _nightly(tmp_path, values, statuses={10: "invalid"})
    assert find_changes(load_history([tmp_path])) == []


def test_history_command_writes_table_and_charts(tmp_path: Path) -> None:
    _nightly(tmp_path / "runs", _stepped())
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["history", str(tmp_path / "runs"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "history.csv").read_text().count("\n") == 2 * RUNS + 1
    assert f"night-{STEP_AT:02d}" in (out / "change_points.csv").read_text()
    assert sorted(p.name for p in (out / "charts").iterdir()) == [
        "api_latency.latency_p95_ms.optimized.png",
        "api_latency.throughput_rps.optimized.png",
    ]
