"""The USL fit recovers known parameters from synthetic data and rejects data it cannot fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.usl import UslError, fit_usl, peak_concurrency, usl_throughput

LEVELS = [1, 2, 4, 8, 16, 32, 64]


def synthetic(lam: float, sigma: float, kappa: float, noise: float, reps: int = 3, seed: int = 7):
    rng = np.random.default_rng(seed)
    n = np.array(LEVELS * reps, dtype=float)
    x = usl_throughput(n, lam, sigma, kappa) * rng.normal(1.0, noise, n.size)
    return n, x


def test_recovers_known_parameters() -> None:
    n, x = synthetic(1000.0, 0.05, 0.0005, noise=0.02)
    fit = fit_usl(n, x, bootstrap_resamples=0)
    assert fit.lam == pytest.approx(1000.0, rel=0.05)
    assert fit.sigma == pytest.approx(0.05, abs=0.01)
    assert fit.kappa == pytest.approx(0.0005, rel=0.2)
    assert fit.peak_concurrency == pytest.approx(math.sqrt(0.95 / 0.0005), rel=0.1)
    assert fit.r_squared > 0.99


def test_intervals_cover_the_true_values_at_about_the_nominal_rate() -> None:
    """120 synthetic experiments (7 levels x 3 repetitions, 3 % noise): each interval should miss the true
    value in about 5 % of them. Coverage of 0.87-0.995 is the nominal 95 % within about 3.5 standard errors."""
    truth = {"sigma": 0.05, "kappa": 0.0005, "peak_concurrency": peak_concurrency(0.05, 0.0005)}
    rng = np.random.default_rng(11)
    n = np.array(LEVELS * 3, dtype=float)
    hits = dict.fromkeys(truth, 0)
    trials = 120
    for trial in range(trials):
        x = usl_throughput(n, 1000.0, 0.05, 0.0005) * rng.normal(1.0, 0.03, n.size)
        fit = fit_usl(n, x, bootstrap_resamples=60, seed=trial)
        assert fit.ci95 is not None, fit.ci_note
        for name, true in truth.items():
            low, high = fit.ci95[name]
            hits[name] += low <= true <= high
    coverage = {name: hit / trials for name, hit in hits.items()}
    assert all(0.87 <= c <= 0.995 for c in coverage.values()), coverage


@pytest.mark.parametrize(("levels", "reps"), [(LEVELS, 1), (LEVELS[:5], 3)])
def test_intervals_are_refused_with_too_few_degrees_of_freedom(levels: list[int], reps: int) -> None:
    """One repetition of 7 levels leaves 4 degrees of freedom; 5 levels are too few whatever the repetitions."""
    n = np.array(levels * reps, dtype=float)
    fit = fit_usl(n, usl_throughput(n, 1000.0, 0.05, 0.0005) * 1.01, bootstrap_resamples=100)
    assert fit.ci95 is None and fit.ci_note is not None and "degrees of freedom" in fit.ci_note
    assert fit.to_dict()["ci95"] is None


def test_exact_data_is_fitted_exactly() -> None:
    n = np.array(LEVELS, dtype=float)
    fit = fit_usl(n, usl_throughput(n, 250.0, 0.2, 0.01), bootstrap_resamples=0)
    assert fit.params == pytest.approx((250.0, 0.2, 0.01), rel=1e-4)


def test_linear_scaling_has_no_peak() -> None:
    n = np.array(LEVELS, dtype=float)
    fit = fit_usl(n, 100.0 * n, bootstrap_resamples=0)
    assert fit.sigma == pytest.approx(0.0, abs=1e-6)
    assert math.isinf(fit.peak_concurrency)
    assert fit.to_dict()["peak_concurrency"] is None


def test_more_contention_gives_a_larger_sigma() -> None:
    low = fit_usl(*synthetic(500.0, 0.02, 0.0, noise=0.01), bootstrap_resamples=0)
    high = fit_usl(*synthetic(500.0, 0.3, 0.0, noise=0.01), bootstrap_resamples=0)
    assert high.sigma > 5 * low.sigma


def test_peak_formula() -> None:
    assert peak_concurrency(0.0, 0.01) == pytest.approx(10.0)
    assert math.isinf(peak_concurrency(0.1, 0.0))


@pytest.mark.parametrize(
    ("n", "x", "message"),
    [
        ([1, 2, 4], [1.0, 2.0, 3.0], "at least 4 distinct"),
        ([1, 2, 4, 8], [1.0, 2.0, 0.0, 3.0], "throughput > 0"),
        ([1, 2, 4, 8], [1.0, 2.0, 3.0], "equal-length"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(n: list[float], x: list[float], message: str) -> None:
    with pytest.raises(UslError, match=message):
        fit_usl(n, x)
