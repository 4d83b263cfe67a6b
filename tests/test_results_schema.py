"""The results file: round trip, validation with clear errors, atomic writes, and the tidy frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import results as r


def sample_results() -> r.RunResults:
    scenario = r.ScenarioResult(name="api_latency", profile="optimized", params={"rate": 500})
    scenario.metrics["latency_p95_ms"] = r.Metric.from_samples([4.0, 5.0, 4.5], unit="ms", better="lower")
    scenario.timeseries["rps"] = r.TimeSeries("req/s", [0.0, 1.0], [490.0, 505.0])
    scenario.details["spectrum"] = {"50": 2.0}
    run = r.RunResults(run_id="20261127T000000Z-quick", pack="quick", status="complete", targets={"a.b": 1.0})
    run.environment = {"cores": 2}
    run.scenarios.append(scenario)
    return run


def test_round_trip(tmp_path: Path) -> None:
    original = sample_results()
    path = r.save(original, tmp_path / "results.json")
    loaded = r.read(tmp_path)  # a run directory works too
    assert loaded.to_dict() == original.to_dict()
    metric = loaded.scenario("api_latency", "optimized").metrics["latency_p95_ms"]
    assert metric.n == 3 and metric.median == 4.5
    assert metric.ci95[0] <= metric.median <= metric.ci95[1]
    assert not list(tmp_path.glob(".results-*")), "no temporary file may be left behind"
    assert path.name == "results.json"


def test_metric_needs_samples_and_direction() -> None:
    with pytest.raises(ValueError, match="at least one"):
        r.Metric.from_samples([], unit="ms")
    with pytest.raises(ValueError, match="better"):
        r.Metric.from_samples([1.0], unit="ms", better="up")  # type: ignore[arg-type]


def test_tidy_frame(tmp_path: Path) -> None:
    r.save(sample_results(), tmp_path / "results.json")
    frame = r.load(tmp_path / "results.json")
    assert list(frame["value"]) == [4.0, 5.0, 4.5]
    assert set(frame["metric"]) == {"latency_p95_ms"}
    assert list(frame["repetition"]) == [0, 1, 2]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=99), "newer than this athbench understands"),
        (lambda d: d.update(schema="other"), "not an athbench results file"),
        (lambda d: d.pop("run_id"), "run_id is missing"),
        (lambda d: d.update(status="great"), "status is 'great'"),
        (lambda d: d["scenarios"][0]["metrics"]["latency_p95_ms"].update(n=7), "n is 7 but there are 3 samples"),
        (lambda d: d["scenarios"][0]["metrics"]["latency_p95_ms"].update(samples=["x"]), "samples must be"),
        (lambda d: d["scenarios"][0]["timeseries"]["rps"].update(v=[1.0]), "t has 2 points but v has 1"),
    ],
)
def test_invalid_documents_name_the_problem(tmp_path: Path, mutate, message: str) -> None:
    doc = sample_results().to_dict()
    mutate(doc)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(r.ResultsError, match=message) as info:
        r.read(path)
    assert str(path) in str(info.value)


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(sample_results().to_dict())[:-40])
    with pytest.raises(r.ResultsError, match="not valid JSON"):
        r.read(path)
    with pytest.raises(r.ResultsError, match="no such results file"):
        r.read(tmp_path / "missing.json")


def test_nan_and_numpy_values_in_details_never_lose_a_run(tmp_path: Path) -> None:
    import numpy as np

    run = sample_results()
    run.scenarios[0].details["slope"] = np.float64("nan")
    run.scenarios[0].details["points"] = np.array([1.0, np.inf])
    run.scenarios[0].timeseries["rss"] = r.TimeSeries("MB", [0.0, 1.0], [float("nan"), 2.0])
    r.save(run, tmp_path / "results.json")
    loaded = r.read(tmp_path)
    details = loaded.scenarios[0].details
    assert details["slope"] is None and details["points"] == [1.0, None]
    assert loaded.scenarios[0].timeseries["rss"].v[1] == 2.0
