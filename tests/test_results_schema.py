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
    assert metric.ci95 is None and metric.ci_coverage is None and metric.n_too_small  # n = 3: no interval
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 2
    assert raw["scenarios"][0]["metrics"]["latency_p95_ms"]["ci95"] is None
    assert not list(tmp_path.glob(".results-*")), "no temporary file may be left behind"
    assert path.name == "results.json"


def test_the_interval_is_the_order_statistic_one_from_n_6() -> None:
    five = r.Metric.from_samples([5.0, 1.0, 4.0, 2.0, 3.0], unit="ms")
    assert five.ci95 is None and five.n_too_small
    six = r.Metric.from_samples([5.0, 1.0, 4.0, 2.0, 6.0, 3.0], unit="ms")
    assert six.ci95 == (1.0, 6.0) and six.ci_coverage == pytest.approx(0.96875) and not six.n_too_small
    ten = r.Metric.from_samples([float(x) for x in range(10)], unit="ms")
    assert ten.ci95 == (1.0, 8.0) and ten.ci_coverage == pytest.approx(1 - 2 * 11 / 1024)


def test_bound_round_trips_and_is_validated(tmp_path: Path) -> None:
    run = sample_results()
    run.scenarios[0].metrics["lag_max_ms"] = r.Metric.from_samples([8.0] * 6, "ms", "lower", bound="at_most")
    loaded = r.read(r.save(run, tmp_path / "results.json"))
    lag = loaded.scenarios[0].metrics["lag_max_ms"]
    assert lag.bound == "at_most" and lag.ci95 == (8.0, 8.0)  # tied data: a degenerate interval, said so
    assert loaded.scenarios[0].metrics["latency_p95_ms"].bound == "exact"
    with pytest.raises(ValueError, match="bound"):
        r.Metric.from_samples([1.0], unit="ms", bound="roughly")  # type: ignore[arg-type]


def test_a_version_1_file_is_still_read_with_its_intervals_recomputed(tmp_path: Path) -> None:
    doc = sample_results().to_dict()
    doc["schema_version"] = 1
    doc["status"], doc["status_reason"] = "invalid", "generator saturated"
    metrics = doc["scenarios"][0]["metrics"]
    metrics["latency_p95_ms"].update(ci95=[4.5, 4.5])  # the old zero-width bootstrap interval
    for key in ("ci_coverage", "bound"):
        del metrics["latency_p95_ms"][key]
    metrics["rtt_ms"] = {"unit": "ms", "better": "lower", "samples": [3, 1, 2, 6, 5, 4], "n": 6, "median": 3.5}
    metrics["rtt_ms"]["ci95"] = [3.0, 4.0]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    loaded = r.read(path)
    old = loaded.scenarios[0].metrics
    assert old["latency_p95_ms"].ci95 is None and old["latency_p95_ms"].bound == "exact"
    assert old["rtt_ms"].ci95 == (1.0, 6.0) and old["rtt_ms"].ci_coverage == pytest.approx(0.96875)
    assert loaded.status == "incomplete" and "marked invalid (schema 1): generator saturated" in loaded.status_reason


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
        (lambda d: d.update(status="invalid"), "status is 'invalid'"),  # version 2 has no invalid run status
        (lambda d: d.update(schema_version=0), "older than supported"),
        (lambda d: d["scenarios"][0]["metrics"]["latency_p95_ms"].update(bound="about"), "bound is 'about'"),
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
