"""Summary statistics for repeated measurements: the median and its distribution-free confidence interval.

The interval of a median comes from order statistics: with the n samples sorted, the pair
(x_(k), x_(n-k+1)) covers the true median with probability ``1 - 2 * P(Bin(n, 1/2) <= k - 1)``
whatever the distribution (continuous). The largest k whose coverage reaches the requested confidence
gives the narrowest such interval, and its exact coverage is reported with it. A 95 % interval exists
from n = 6 (then it is [min, max], coverage 96.9 %); below that there is none: "n too small".
A percentile bootstrap of a median is not used: at n = 1-3 its real coverage is 0-75 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
MIN_N_FOR_CI = 6  # the smallest n with a 95 % order-statistic interval of the median


@dataclass(frozen=True)
class MedianCI:
    """An order-statistic confidence interval of a median: (x_(k), x_(n-k+1)) and its exact coverage."""

    low: float
    high: float
    coverage: float
    k: int
    n: int

    @property
    def tied(self) -> bool:
        """Both order statistics are equal: the interval is degenerate because the data are tied there."""
        return self.low == self.high


def median(samples: Sequence[float]) -> float:
    """Median of the samples (NaN when there are none)."""
    if len(samples) == 0:
        return float("nan")
    return float(np.median(np.asarray(samples, dtype=float)))


def order_statistic_coverage(n: int, k: int) -> float:
    """Exact coverage of (x_(k), x_(n-k+1)) for the median of n continuous samples: 1 - 2 P(Bin(n, 1/2) <= k-1)."""
    if n < 1 or not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"need n >= 1 and 1 <= k <= (n + 1) / 2, got n={n} k={k}")
    tail = sum(math.comb(n, i) for i in range(k))
    return 1.0 - 2.0 * (tail / 2**n)  # exact integers, one correctly rounded division


def _widest_k(n: int, confidence: float) -> int | None:
    """The largest k whose interval reaches ``confidence`` (None when not even [min, max] does)."""
    alpha_half, total = (1.0 - confidence) / 2.0, 2**n  # coverage >= confidence <=> P(Bin <= k-1) <= alpha/2
    tail, best = 0, None
    for k in range(1, (n + 1) // 2 + 1):
        tail += math.comb(n, k - 1)
        if tail / total > alpha_half:
            break
        best = k
    return best


def min_n_for(confidence: float = CONFIDENCE) -> int:
    """The smallest n for which an order-statistic interval of the median reaches ``confidence``."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    return max(1, math.ceil(math.log2(2.0 / (1.0 - confidence)) - 1e-12))


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> MedianCI | None:
    """The distribution-free interval of the median at ``confidence``, or None when n is too small for one.

    Ties can make both order statistics equal (``MedianCI.tied``); the interval is then degenerate
    because the data are, not because of the method, and callers say so rather than print a range.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    data = np.sort(np.asarray(samples, dtype=float))
    if data.size and not np.all(np.isfinite(data)):
        raise ValueError("median_ci needs finite samples")
    n = int(data.size)
    k = _widest_k(n, confidence) if n else None
    if k is None:
        return None
    return MedianCI(float(data[k - 1]), float(data[n - k]), order_statistic_coverage(n, k), k, n)


@dataclass(frozen=True)
class RatioCI:
    """An interval of candidate median / baseline median, with a lower bound on its coverage."""

    low: float
    high: float
    coverage: float


def median_ratio_ci(
    baseline: Sequence[float], candidate: Sequence[float], confidence: float = CONFIDENCE
) -> RatioCI | None:
    """Interval of median(candidate) / median(baseline) from the two medians' order-statistic intervals.

    The two samples are independent, so intervals at ``sqrt(confidence)`` each hold together with
    probability at least ``confidence`` (the product of their exact coverages, reported). Needs positive
    values (a ratio of medians that may cross zero means nothing); None when either side has too few
    samples (n >= 7 each for 95 %) or an interval reaches zero.
    """
    per_side = math.sqrt(confidence)
    base, cand = median_ci(baseline, per_side), median_ci(candidate, per_side)
    if base is None or cand is None or base.low <= 0 or cand.low <= 0:
        return None
    return RatioCI(cand.low / base.high, cand.high / base.low, base.coverage * cand.coverage)
