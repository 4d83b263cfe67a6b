"""Scoring curve, letter bands, not-measured and failed areas, caps on the worst repetition, bounds,
provisional grades and score intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reports_fixtures import build_run, write_run

from harness.results import Metric, read
from reports.grading import FAILED, compare, curve_for, grade, grade_run, score_bound
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


def test_a_scenario_the_pack_left_out_is_named_not_counted_as_missing():
    run = build_run()
    with_consistency = grade(run, "optimized").area("caching")
    run.scenarios = [s for s in run.scenarios if s.name != "consistency"]  # a pack without it (quick)
    caching = grade(run, "optimized").area("caching")
    assert caching.measured and caching.letter != NOT_MEASURED
    assert caching.not_in_pack and all(k.startswith("consistency.") for k in caching.not_in_pack)
    assert {g.key for g in caching.metrics} < {g.key for g in with_consistency.metrics}
    # a scenario that ran but lost a metric still makes the area not measured
    for scenario in run.scenarios:
        if scenario.name == "cache_hit_ratio":
            del scenario.metrics["cached_latency_p95_ms"]
    assert not grade(run, "optimized").area("caching").measured


def _set(run, scenario_name, metric_name, metric, profile="optimized"):
    for scenario in run.scenarios:
        if scenario.name == scenario_name and scenario.profile == profile:
            scenario.metrics[metric_name] = metric
    return run


def _fail(run, scenario_name, profile, reason="PostgreSQL went away"):
    for scenario in run.scenarios:
        if scenario.name == scenario_name and scenario.profile == profile:
            scenario.status, scenario.reason = "failed", reason
    return run


def test_a_failed_scenario_makes_its_areas_failed_never_not_measured():
    run = _fail(build_run(), "db_query", "baseline")
    assessment = grade(run, "baseline")
    database = assessment.area("database")
    assert database.failed and database.status == FAILED and database.letter == FAILED
    assert database not in assessment.not_measured and database in assessment.failed
    assert any("scenario failed: PostgreSQL went away" in m for m in database.missing)


@pytest.mark.parametrize("scenario", ["db_query", "backup_time", "capacity", "health_overhead"])
def test_a_crash_never_raises_a_profiles_grade(scenario):
    """Even where the crashed scenario's areas scored worst, failing them cannot lift the overall score."""
    before = grade(build_run(), "baseline")
    after = grade(_fail(build_run(), scenario, "baseline"), "baseline")
    assert after.failed and after.score < before.score
    counted = [a for a in after.areas if a.measured or a.failed]
    expected = np.average([a.score if a.measured else 0.0 for a in counted], weights=[a.weight for a in counted])
    assert after.score == pytest.approx(expected)


def test_profiles_are_compared_only_on_the_areas_both_measured():
    run = _fail(build_run(), "backup_time", "baseline")  # I/O (F) and Backup fail for the baseline only
    grades = grade_run(run)
    comparison = compare(grades)
    assert "io" not in comparison.areas and "backup" not in comparison.areas
    assert "I/O Performance" in comparison.left_out and "Backup & Recovery" in comparison.left_out
    opt = grades["optimized"]
    common = [opt.area(k) for k in comparison.areas]
    expected = np.average([a.score for a in common], weights=[a.weight for a in common])
    assert comparison.scores["optimized"] == pytest.approx(expected)
    assert comparison.scores["optimized"] != pytest.approx(opt.score)  # its own overall includes io and backup
    assert compare({"optimized": opt}) is None


def test_restore_failing_in_one_repetition_of_three_caps_backup_at_f():
    """Caps look at the worst repetition: the median (1) says restored, one drill in three did not."""
    run = build_run()
    before = grade(run, "optimized").area("backup")
    _set(run, "backup_time", "restore_verified", Metric.from_samples([1.0, 1.0, 0.0], unit="bool", better="higher"))
    after = grade(run, "optimized").area("backup")
    assert before.letter.startswith("A") and before.cap is None
    assert after.score == 0.0 and after.letter == "F" and "did not restore" in after.cap
    assert after.score_ci is None  # the cap fixes the score: no interval, certainly not (0, 0)


def test_server_errors_in_the_worst_repetition_cap_latency():
    run = _set(build_run(), "api_latency", "server_error_rate", Metric.from_samples([0.0, 0.0, 0.03], "fraction"))
    latency = grade(run, "optimized").area("latency")
    assert latency.score == 49.0 and latency.letter == "D" and "server errors" in latency.cap


def test_a_cap_against_the_metrics_direction_is_an_error():
    run = _set(build_run(), "backup_time", "restore_verified", Metric.from_samples([1.0], unit="bool", better="lower"))
    with pytest.raises(ValueError, match="cannot be capped"):
        grade(run, "optimized")


def test_grades_resting_on_n_below_6_are_provisional():
    assert all(a.provisional for a in grade(build_run(), "optimized").areas)
    full = grade(build_run(repetitions=8), "optimized")
    assert not full.provisional and not any(a.provisional for a in full.areas)
    run = _set(build_run(repetitions=8), "db_query", "slow_queries", Metric.from_samples([0.0, 1.0], "count"))
    mixed = grade(run, "optimized")
    assert mixed.area("database").provisional and mixed.provisional and mixed.min_n == 2
    assert not mixed.area("cpu").provisional
    capped = _set(build_run(repetitions=8), "backup_time", "restore_verified", Metric.single(1.0, "bool", "higher"))
    assert grade(capped, "optimized").area("backup").provisional  # a cap's metric counts too


@pytest.mark.parametrize(
    ("bound", "direction", "expected"),
    [
        ("at_least", "lower", "at_most"),  # a latency of at least x scores at most score(x): "at best"
        ("at_most", "higher", "at_most"),  # a throughput of at most x: "at best"
        ("at_most", "lower", "at_least"),  # a lag of at most x (bucket edge): the score is at least
        ("at_least", "higher", "at_least"),
        ("exact", "lower", "exact"),
    ],
)
def test_what_a_score_at_a_bound_is(bound, direction, expected):
    assert score_bound(bound, direction) == expected


def test_a_lower_bound_on_a_latency_grades_at_best():
    run = build_run(repetitions=8)
    p95 = run.scenario("api_latency", "optimized").metrics["latency_p95_ms"]
    _set(run, "api_latency", "latency_p95_ms", Metric.from_samples(p95.samples, "ms", "lower", bound="at_least"))
    assessment = grade(run, "optimized")
    metric = assessment.metric("api_latency.latency_p95_ms")
    assert metric.bound == "at_least" and metric.qualifier == "at best"
    assert assessment.area("latency").qualifier == "at best" and assessment.qualifier == "at best"
    assert assessment.area("cpu").qualifier == ""
    lag = run.scenario("health_overhead", "optimized").metrics["event_loop_lag_max_ms"]
    _set(run, "health_overhead", "event_loop_lag_max_ms", Metric.from_samples(lag.samples, "ms", bound="at_most"))
    both = grade(run, "optimized")
    assert both.area("cpu").qualifier == "at least" and both.qualifier == "bounded both ways"


def test_a_cap_a_bound_may_still_trigger_makes_the_area_at_best():
    run = build_run(repetitions=8)
    _set(run, "api_latency", "server_error_rate", Metric.from_samples([0.0] * 8, "fraction", bound="at_least"))
    latency = grade(run, "optimized").area("latency")
    assert latency.cap is None and latency.qualifier == "at best"


def test_a_run_whose_every_scenario_is_invalid_is_not_graded():
    run = build_run()
    for scenario in run.scenarios:
        scenario.status, scenario.reason = "invalid", "load generator saturated (CPU 98 %)"
    assessment = grade(run, "optimized")
    assert not assessment.graded and assessment.score is None
    assert all(a.status == NOT_MEASURED for a in assessment.areas)
    assert "load generator saturated" in assessment.area("latency").missing[0]


def test_baseline_grades_lower_than_optimized():
    grades = grade_run(build_run())
    assert list(grades) == ["baseline", "optimized"]
    base, opt = grades["baseline"], grades["optimized"]
    for area in ("cpu", "caching"):
        assert base.area(area).score < opt.area(area).score
    assert base.min_n == 3


def test_no_score_interval_below_n_6_and_honest_ones_above():
    small = grade(build_run(), "optimized")
    assert small.score_ci is None and all(a.score_ci is None for a in small.areas)
    assert all(g.score_ci is None and g.ci95 is None for a in small.areas for g in a.metrics)
    area_only = grade(build_run(repetitions=8), "optimized")  # areas (k <= 4 inputs) yes, overall (k = 25) no
    assert area_only.score_ci is None
    for area in area_only.areas:
        if area.score_ci is not None:
            low, high = area.score_ci
            assert low < area.score < high and area.score_ci_coverage >= 0.95
    assert area_only.area("cpu").score_ci is not None
    full = grade(build_run(repetitions=12), "optimized")
    low, high = full.score_ci
    assert low < full.score < high and full.score_ci_coverage >= 0.95


def test_no_interval_anywhere_has_zero_width():
    run = build_run(repetitions=12)  # tied figures (hung_requests 0, restore_verified 1 ...) included
    for profile in ("baseline", "optimized"):
        assessment = grade(run, profile)
        intervals = [assessment.score_ci] + [a.score_ci for a in assessment.areas]
        intervals += [g.score_ci for a in assessment.areas for g in a.metrics]
        assert all(ci is None or ci[0] < ci[1] for ci in intervals)
        hung = assessment.metric("resilience_faults.hung_requests")
        assert hung.ci95 == (0.0, 0.0) and hung.score_ci is None  # tied data: said so, no score interval


def test_a_grade_whose_ci_spans_two_letters_is_marked():
    run = build_run(profiles=("optimized",))
    # repetitions that straddle the 0.85 target widely
    straddling = Metric.from_samples([0.6, 0.95, 0.7, 0.9, 0.8, 0.75, 0.88], "fraction", "higher")
    grade_ = grade(_set(run, "cache_hit_ratio", "hit_ratio_overall", straddling), "optimized").metric(
        "cache_hit_ratio.hit_ratio_overall"
    )
    assert grade_.flips and grade_.score_ci[0] < grade_.score < grade_.score_ci[1]
    assert grade_.ci_coverage == pytest.approx(0.984375)


def test_results_direction_disagreeing_with_the_rubric_is_an_error():
    run = build_run(profiles=("optimized",))
    for scenario in run.scenarios:
        if scenario.name == "cache_hit_ratio":
            scenario.metrics["hit_ratio_overall"] = Metric.from_samples([0.8], "fraction", "lower")
    with pytest.raises(ValueError, match="hit_ratio_overall: the results say lower-is-better"):
        grade(run, "optimized")
