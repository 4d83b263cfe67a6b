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


def test_recovers_known_parameters_and_their_intervals_cover_them() -> None:
    n, x = synthetic(1000.0, 0.05, 0.0005, noise=0.02)
    fit = fit_usl(n, x, bootstrap_resamples=200)
    assert fit.lam == pytest.approx(1000.0, rel=0.05)
    assert fit.sigma == pytest.approx(0.05, abs=0.01)
    assert fit.kappa == pytest.approx(0.0005, rel=0.2)
    for name, true in (("lambda", 1000.0), ("sigma", 0.05), ("kappa", 0.0005)):
        low, high = fit.ci95[name]
        assert low <= true <= high, (name, low, high)
    assert fit.peak_concurrency == pytest.approx(math.sqrt(0.95 / 0.0005), rel=0.1)
    low, high = fit.ci95["peak_concurrency"]
    assert low < fit.peak_concurrency < high
    assert fit.r_squared > 0.99


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
