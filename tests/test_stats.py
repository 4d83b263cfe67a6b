"""The median's order-statistic interval: exact coverage, real coverage by simulation, ties, n too small."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats import MIN_N_FOR_CI, median, median_ci, median_ratio_ci, min_n_for, order_statistic_coverage


def binomial_coverage(n: int, k: int) -> float:
    """1 - 2 P(Bin(n, 1/2) <= k - 1), summed term by term in floating point."""
    return 1.0 - 2.0 * sum(math.comb(n, i) * 0.5**n for i in range(k))


@pytest.mark.parametrize("n", range(6, 21))
def test_exact_coverage_and_the_widest_k_for_n_6_to_20(n: int) -> None:
    ci = median_ci(list(range(n)))
    assert ci is not None and ci.n == n
    assert ci.coverage == pytest.approx(binomial_coverage(n, ci.k), abs=1e-12)
    assert ci.coverage >= 0.95
    if ci.k + 1 <= (n + 1) // 2:  # one step narrower would fall short of 95 %
        assert binomial_coverage(n, ci.k + 1) < 0.95
    assert (ci.low, ci.high) == (ci.k - 1, n - ci.k)  # x_(k) and x_(n-k+1) of 0..n-1


def test_known_values() -> None:
    six = median_ci([5.0, 1.0, 4.0, 2.0, 6.0, 3.0])
    assert (six.low, six.high, six.k) == (1.0, 6.0, 1) and six.coverage == pytest.approx(0.96875)
    assert median_ci(list(range(9))).k == 2  # n = 9: (x_(2), x_(8)), 96.1 %
    assert order_statistic_coverage(9, 2) == pytest.approx(0.9609375)
    assert MIN_N_FOR_CI == min_n_for(0.95) == 6
    assert min_n_for(1 - 0.05 / 3) == 7 and min_n_for(0.99) == 8


@pytest.mark.parametrize("n", range(0, MIN_N_FOR_CI))
def test_no_interval_below_n_6(n: int) -> None:
    assert median_ci([float(x) for x in range(n)]) is None
    assert median_ci([1.0] * n) is None  # even tied data give no interval below n = 6


@pytest.mark.parametrize("n", [6, 10, 30])
def test_real_coverage_by_simulation_matches_the_claim(n: int) -> None:
    """2,000 draws from a skewed (log-normal) distribution: the interval covers the true median as claimed."""
    rng = np.random.default_rng(20261127 + n)
    true_median = math.exp(1.0)  # log-normal(mu=1, sigma=1)
    draws = rng.lognormal(1.0, 1.0, size=(2000, n))
    intervals = [median_ci(row) for row in draws]
    claimed = intervals[0].coverage
    covered = np.mean([ci.low <= true_median <= ci.high for ci in intervals])
    assert abs(covered - claimed) < 0.02, (covered, claimed)
    assert covered >= 0.95 - 0.015


def test_the_simulation_detects_an_interval_that_is_too_narrow() -> None:
    """The check above can fail: (x_(2), x_(5)) at n = 6 covers about 78 %, far from 95 %."""
    rng = np.random.default_rng(7)
    draws = np.sort(rng.lognormal(1.0, 1.0, size=(2000, 6)), axis=1)
    covered = np.mean((draws[:, 1] <= math.e) & (math.e <= draws[:, 4]))
    assert abs(covered - binomial_coverage(6, 2)) < 0.03 and covered < 0.85


def test_tied_data_are_reported_as_tied_never_as_a_silent_zero_width_interval() -> None:
    tied = median_ci([1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0])  # n = 9: x_(2) = x_(8) = 2
    assert tied.tied and tied.low == tied.high == 2.0
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(6, 40))
        data = rng.integers(0, 4, size=n).astype(float)  # heavy ties
        ci = median_ci(data)
        assert ci is not None and ci.low <= median(data) <= ci.high
        assert (ci.low < ci.high) or ci.tied
        assert ci.tied == (ci.low == ci.high)


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        median_ci([1.0, 2.0, 3.0, 4.0, 5.0, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        median_ci([1.0] * 10, confidence=1.0)
    assert math.isnan(median([]))


def test_ratio_of_medians_interval_needs_seven_per_side_and_covers_by_simulation() -> None:
    assert median_ratio_ci([1.0] * 6, [2.0] * 6) is None  # sqrt(0.95) per side needs n >= 7
    assert median_ratio_ci([0.0, 1, 2, 3, 4, 5, 6], [1.0] * 7) is None  # a median interval reaching 0
    rng = np.random.default_rng(11)
    hits, coverages = 0, set()
    for _ in range(1000):
        base, cand = rng.lognormal(1.0, 0.5, 8), rng.lognormal(1.5, 0.5, 8)
        ratio = median_ratio_ci(base, cand)
        coverages.add(round(ratio.coverage, 12))
        hits += ratio.low <= math.exp(0.5) <= ratio.high
    (coverage,) = coverages
    assert coverage >= 0.95 and hits / 1000 >= 0.95 - 0.015
