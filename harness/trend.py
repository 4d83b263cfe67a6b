"""A linear trend with a confidence interval that accounts for autocorrelated noise.

A series sampled many times a second (RSS at 10 Hz) is not n independent points: neighbouring samples
share most of their noise, and the ordinary least-squares interval of the slope, which assumes they do
not, covers the true slope far less often than it says (about 47 % for a nominal 95 % with AR(1) noise of
phi = 0.8). `linear_trend` fits the OLS line and widens its standard error by the effective sample size
of the residuals (Santer et al. 2000, J. Geophys. Res. 105: n_eff = n (1 - r1) / (1 + r1), with r1 the
lag-1 autocorrelation of the residuals), with Student t on n_eff - 2 degrees of freedom. r1 is biased low
in short series, more so after a fitted trend; it is corrected by (1 + 4 r1) / n before use. By
simulation (tests/test_trend.py, phi = 0.8) the 95 % interval covers about 95 % from n = 300, 89 % at
n = 60 (the naive one 45-50 % at both); below n_eff = 3 there is no interval (`ci` None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_N = 3
MAX_R1 = 0.99


@dataclass(frozen=True)
class Trend:
    """Slope per unit of t, its autocorrelation-aware standard error and interval (None if n_eff < MIN_N)."""

    slope: float
    stderr: float | None
    ci: tuple[float, float] | None
    n: int
    n_effective: float
    lag1_autocorrelation: float
    naive_stderr: float
    r_squared: float


def linear_trend(t: Sequence[float], v: Sequence[float], confidence: float = 0.95) -> Trend:
    """OLS slope of v over t with an interval widened for lag-1 autocorrelation of the residuals."""
    x, y = np.asarray(t, dtype=float), np.asarray(v, dtype=float)
    n = x.size
    if n < MIN_N or y.size != n:
        raise ValueError(f"linear_trend needs at least {MIN_N} (t, v) pairs of equal length, got {n} and {y.size}")
    from scipy import stats  # here, not at the top: importing SciPy costs a second on every start

    fit = stats.linregress(x, y)
    residuals = y - (fit.intercept + fit.slope * x)
    power = float(np.dot(residuals, residuals))
    r1 = float(np.dot(residuals[1:], residuals[:-1]) / power) if power > 0 else 0.0
    corrected = min(max(r1 + (1.0 + 4.0 * r1) / n, 0.0), MAX_R1)
    n_eff = n * (1.0 - corrected) / (1.0 + corrected)
    stderr: float | None = None
    ci: tuple[float, float] | None = None
    if n_eff > MIN_N:
        stderr = float(fit.stderr) * float(np.sqrt((n - 2) / (n_eff - 2)))
        half = float(stats.t.ppf(0.5 + confidence / 2.0, n_eff - 2)) * stderr
        ci = (float(fit.slope) - half, float(fit.slope) + half)
    return Trend(
        slope=float(fit.slope),
        stderr=stderr,
        ci=ci,
        n=n,
        n_effective=n_eff,
        lag1_autocorrelation=r1,
        naive_stderr=float(fit.stderr),
        r_squared=float(fit.rvalue**2),
    )
