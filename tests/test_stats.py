"""Median and bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np

from harness.stats import bootstrap_ci, median


def test_ci_brackets_the_median_and_narrows_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(10.0, 1.0, 8)
    large = rng.normal(10.0, 1.0, 400)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= median(small) <= hi_s
    assert lo_l <= median(large) <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s)
    assert lo_l < 10.0 < hi_l


def test_ci_is_deterministic_and_degenerate_cases() -> None:
    data = [3.0, 1.0, 2.0, 5.0]
    assert bootstrap_ci(data) == bootstrap_ci(data)
    assert bootstrap_ci([7.0]) == (7.0, 7.0)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 100.0], statistic=np.mean)
    assert lo < np.mean([1.0, 2.0, 3.0, 100.0]) < hi
