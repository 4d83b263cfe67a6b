"""Scoring curve, letter bands, not-measured areas, caps and score CIs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from reports_fixtures import build_run, write_run

from harness.results import Metric, read
from reports.grading import curve_for, grade, grade_run
from reports.rubric import NOT_MEASURED, load
from reports.scoring import Curve, ScoringError


@pytest.mark.parametrize(
    ("good", "poor", "direction", "scale"),
    [(100.0, 300.0, "lower", "linear"), (0.85, 0.5, "higher", "linear"), (0.999, 0.99, "higher", "complement")],
)
def test_control_points_score_90_and_50_and_curve_is_monotonic(good, poor, direction, scale):
    curve = Curve(good, poor, direction, scale)
    assert curve.score(good) == pytest.approx(90.0)
    assert curve.score(poor) == pytest.approx(50.0)
    low, high = sorted((good, poor))
    values = np.linspace(low / 4, min(high * 4, 0.99999) if scale == "complement" else high * 4, 200)
    scores = curve.scores(values)
    steps = np.diff(scores)
    assert np.all(steps <= 1e-12) if direction == "lower" else np.all(steps >= -1e-12)
    assert scores.min() >= 0.0 and scores.max() <= 100.0


def test_extremes_of_both_directions():
    assert Curve(100, 300, "lower").score(0.0) == 100.0
    assert Curve(0.85, 0.5, "higher").score(0.0) == 0.0


def test_control_points_on_the_wrong_side_are_refused():
    with pytest.raises(ScoringError, match="good < poor"):
        Curve(300, 100, "lower")
    with pytest.raises(ScoringError, match="good > poor"):
        Curve(0.5, 0.85, "higher")


def test_pack_target_moves_the_good_point_and_keeps_the_ratio():
    moved = Curve(100, 300, "lower").with_good(50)
    assert (moved.good, moved.poor) == (50, 150)
    assert moved.score(50) == pytest.approx(90.0)


def test_a_zero_pack_target_falls_back_to_the_rubric_curve():
    rule = next(m for a in load().areas for m in a.metrics if m.key == "resilience_faults.hung_requests")
    metric = Metric.from_samples([0.0, 2.0], unit="requests", better="lower")
    curve, source = curve_for(rule, metric, {"resilience_faults.hung_requests": 0.0})
    assert source.startswith("rubric") and "cannot anchor" in source
    assert (curve.good, curve.poor) == (rule.good, rule.poor)


@pytest.mark.parametrize(
    ("score", "letter"),
    # the original assessment's eight examples
    [(90, "A"), (88, "A-"), (87, "A-"), (85, "B+"), (83, "B+"), (82, "B+"), (78, "B"), (75, "B")],
)
def test_letter_bands_reproduce_the_original(score, letter):
    assert load().letter(score) == letter


def test_bands_around_the_examples():
    rubric = load()
    assert [rubric.letter(s) for s in (100, 95, 70, 60, 50, 40, 0)] == ["A+", "A+", "B-", "C+", "C", "D", "F"]


def test_a_missing_metric_makes_its_area_not_measured_never_perfect(tmp_path: Path):
    run = build_run()
    for scenario in run.scenarios:
        if scenario.name == "cache_hit_ratio":
            del scenario.metrics["cached_latency_p95_ms"]
    assessment = grade(read(write_run(tmp_path / "r.json", run)), "optimized")
    caching = assessment.area("caching")
    assert not caching.measured and caching.letter == NOT_MEASURED and caching.score is None
    assert "cache_hit_ratio.cached_latency_p95_ms: metric not in results" in caching.missing
    assert assessment.graded and caching in assessment.not_measured
    measured = [a for a in assessment.areas if a.measured]
    expected = np.average([a.score for a in measured], weights=[a.weight for a in measured])
    assert assessment.score == pytest.approx(expected)


def test_a_failed_scenario_counts_as_missing():
    run = build_run()
    for scenario in run.scenarios:
        if scenario.name == "db_query" and scenario.profile == "baseline":
            scenario.status, scenario.reason = "failed", "PostgreSQL went away"
    database = grade(run, "baseline").area("database")
    assert not database.measured
    assert any("scenario failed: PostgreSQL went away" in m for m in database.missing)


def test_restore_not_verified_caps_backup_at_f():
    run = build_run()
    before = grade(run, "optimized").area("backup")
    for scenario in run.scenarios:
        if scenario.name == "backup_time" and scenario.profile == "optimized":
            scenario.metrics["restore_verified"] = Metric.from_samples([1.0, 0.0, 0.0], unit="bool", better="higher")
    after = grade(run, "optimized").area("backup")
    assert before.letter.startswith("A") and before.cap is None
    assert after.score == 0.0 and after.letter == "F" and "did not restore" in after.cap
    assert after.score_ci == (0.0, 0.0)


def test_server_errors_under_normal_load_cap_latency():
    run = build_run()
    for scenario in run.scenarios:
        if scenario.name == "api_latency" and scenario.profile == "optimized":
            scenario.metrics["server_error_rate"] = Metric.from_samples([0.02, 0.03, 0.02], "fraction", "lower")
    latency = grade(run, "optimized").area("latency")
    assert latency.score == 49.0 and latency.letter == "D" and "server errors" in latency.cap


def test_an_invalid_run_is_not_graded():
    run = dataclasses.replace(build_run(), status="invalid", status_reason="load generator saturated (CPU 98 %)")
    assessment = grade(run, "optimized")
    assert not assessment.graded and assessment.score is None and assessment.areas == []
    assert "load generator saturated" in assessment.reason


def test_baseline_grades_lower_than_optimized_with_cis():
    grades = grade_run(build_run())
    assert list(grades) == ["baseline", "optimized"]
    base, opt = grades["baseline"], grades["optimized"]
    for area in ("cpu", "caching"):
        assert base.area(area).score < opt.area(area).score
    assert base.score_ci[0] <= base.score <= base.score_ci[1]
    assert base.min_n == 3


def test_a_grade_whose_ci_spans_two_letters_is_marked():
    run = build_run(profiles=("optimized",))
    for scenario in run.scenarios:
        if scenario.name == "cache_hit_ratio":
            # repetitions that straddle the 0.85 target widely
            scenario.metrics["hit_ratio_overall"] = Metric.from_samples(
                [0.6, 0.95, 0.7, 0.9, 0.8], "fraction", "higher"
            )
    grade_ = grade(run, "optimized").metric("cache_hit_ratio.hit_ratio_overall")
    assert grade_.flips and grade_.score_ci[0] < grade_.score < grade_.score_ci[1]


def test_results_direction_disagreeing_with_the_rubric_is_an_error():
    run = build_run(profiles=("optimized",))
    for scenario in run.scenarios:
        if scenario.name == "cache_hit_ratio":
            scenario.metrics["hit_ratio_overall"] = Metric.from_samples([0.8], "fraction", "lower")
    with pytest.raises(ValueError, match="hit_ratio_overall: the results say lower-is-better"):
        grade(run, "optimized")
