"""harness.compare: ratio, bootstrap CI, Mann-Whitney U and direction-aware verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare import (
    CompareSettings,
    Verdict,
    compare_runs,
    compare_samples,
    holm_adjust,
    min_two_sided_p,
    ratio_bootstrap_ci,
    to_markdown,
)
from harness.results import Metric, RunResults, ScenarioResult


def _run(run_id: str, metrics: dict[str, tuple[list[float], str]], status: str = "complete") -> RunResults:
    scenario = ScenarioResult(
        name="api_latency",
        profile="optimized",
        metrics={k: Metric.from_samples(v, unit="ms", better=b) for k, (v, b) in metrics.items()},  # type: ignore[arg-type]
        status=status,
    )
    return RunResults(run_id=run_id, pack="quick", status="complete", scenarios=[scenario])


def test_same_distribution_is_not_a_change() -> None:
    rng = np.random.default_rng(1)
    verdicts = [
        compare_samples(rng.normal(10.0, 0.3, 10), rng.normal(10.0, 0.3, 10), better="lower")[3] for _ in range(200)
    ]
    false_alarms = sum(v in (Verdict.REGRESSION, Verdict.IMPROVEMENT) for v in verdicts)
    assert false_alarms <= 2  # <= 1 % of 200 A/A pairs
    assert verdicts.count(Verdict.NO_CHANGE) >= 190


def test_shifted_distribution_is_a_regression_or_improvement_by_direction() -> None:
    rng = np.random.default_rng(2)
    pairs = [(rng.normal(10.0, 0.3, 10), rng.normal(11.0, 0.3, 10)) for _ in range(50)]  # +10 %
    detected = [compare_samples(a, b, better="lower")[3] for a, b in pairs]
    assert detected.count(Verdict.REGRESSION) >= 48
    ratio, ci, p, _, _ = compare_samples(*pairs[0], better="lower")
    assert p is not None and p < 0.01
    assert ci is not None and ci[0] > 1.0 and ratio == pytest.approx(1.1, abs=0.05)
    assert compare_samples(*pairs[0], better="higher")[3] is Verdict.IMPROVEMENT  # e.g. throughput went up


def test_significant_change_below_threshold_is_no_change() -> None:
    a = np.linspace(10.0, 10.1, 10)
    b = a * 1.02
    assert compare_samples(a, b, better="lower", settings=CompareSettings(threshold=1.05))[3] is Verdict.NO_CHANGE


def test_too_few_repetitions_is_undecidable() -> None:
    assert min_two_sided_p(3, 3) == pytest.approx(0.1)
    _, _, _, verdict, reason = compare_samples([1.0, 1.1, 1.2], [2.0, 2.1, 2.2], better="lower")
    assert verdict is Verdict.UNDECIDABLE and "too few repetitions" in reason


def test_noise_too_large_to_rule_out_a_regression_is_undecidable() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(0.0, 0.8, 5), rng.lognormal(0.0, 0.8, 5)
    verdict = compare_samples(a, b, better="lower")[3]
    assert verdict is Verdict.UNDECIDABLE


def test_zero_baseline_and_informational() -> None:
    assert compare_samples([0.0] * 5, [0.0] * 5, better="lower")[3] is Verdict.NO_CHANGE
    assert compare_samples([0.0] * 5, [0.1] * 5, better="lower")[3] is Verdict.UNDECIDABLE
    assert compare_samples([1.0] * 5, [3.0] * 5, better="none")[3] is Verdict.INFORMATIONAL


def test_ratio_ci_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(4)
    low, high = ratio_bootstrap_ci(rng.normal(100, 2, 30), rng.normal(120, 2, 30))
    assert low < 1.2 < high and high - low < 0.05


def test_holm_adjustment() -> None:
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_compare_runs_matches_metrics_and_skips_one_sided() -> None:
    base = _run("a", {"latency_p95_ms": ([10, 10.2, 9.9, 10.1, 10.0], "lower"), "only_a": ([1.0], "lower")})
    cand = _run("b", {"latency_p95_ms": ([12, 12.1, 11.9, 12.2, 12.0], "lower")})
    comparisons = compare_runs(base, cand)
    assert [c.metric for c in comparisons] == ["latency_p95_ms"]
    assert comparisons[0].verdict is Verdict.REGRESSION
    assert "latency_p95_ms" in to_markdown(comparisons)


def test_incomplete_scenario_is_undecidable() -> None:
    base = _run("a", {"x": ([1.0, 1.1, 1.0, 1.05], "lower")})
    cand = _run("b", {"x": ([1.0, 1.1, 1.0, 1.05], "lower")}, status="invalid")
    (c,) = compare_runs(base, cand)
    assert c.verdict is Verdict.UNDECIDABLE and "candidate scenario is invalid" in c.reason


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CompareSettings(threshold=0.9)


def test_paired_comparison_cancels_drift_shared_by_neighbouring_runs() -> None:
    drift = np.array([10.0, 14.0, 8.0, 16.0, 11.0, 9.0, 15.0, 12.0])  # the machine's load changes run to run
    rng = np.random.default_rng(5)
    base = drift * rng.normal(1.0, 0.01, drift.size)
    cand = drift * 1.10 * rng.normal(1.0, 0.01, drift.size)
    assert compare_samples(base, cand, better="lower")[3] is not Verdict.REGRESSION  # unpaired: drowned in drift
    ratio, ci, _, verdict, _ = compare_samples(base, cand, better="lower", settings=CompareSettings(paired=True))
    assert verdict is Verdict.REGRESSION and ratio == pytest.approx(1.10, abs=0.02)
    assert ci is not None and ci[0] > 1.05


def test_paired_comparison_needs_enough_equal_pairs() -> None:
    paired = CompareSettings(paired=True)
    assert compare_samples([1.0] * 5, [1.2] * 5, better="lower", settings=paired)[3] is Verdict.UNDECIDABLE
    _, _, _, verdict, reason = compare_samples([1.0] * 6, [1.2] * 5, better="lower", settings=paired)
    assert verdict is Verdict.UNDECIDABLE and "as many" in reason
