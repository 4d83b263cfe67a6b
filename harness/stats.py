"""Summary statistics for repeated measurements: median and a bootstrap confidence interval."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], float]


def median(samples: Sequence[float]) -> float:
    """Median of the samples (NaN when there are none)."""
    if len(samples) == 0:
        return float("nan")
    return float(np.median(np.asarray(samples, dtype=float)))


def bootstrap_ci(
    samples: Sequence[float],
    statistic: Statistic = np.median,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of `statistic` over `samples`.

    One sample gives a zero-width interval at that value: the caller must report n beside it.
    The resampling is seeded, so the same samples always give the same interval.
    """
    data = np.asarray(samples, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    if data.size == 1 or np.all(data == data[0]):
        value = float(statistic(data))
        return (value, value)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(n_resamples, data.size))
    resampled = data[idx]
    if statistic is np.median:
        stats = np.median(resampled, axis=1)
    elif statistic is np.mean:
        stats = resampled.mean(axis=1)
    else:
        stats = np.array([statistic(row) for row in resampled])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return (float(low), float(high))
