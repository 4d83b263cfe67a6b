"""Universal Scalability Law (Gunther): fit X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1)).

`lambda` is the throughput of one unit of concurrency without contention, `sigma` the contention
(serial fraction, Amdahl) and `kappa` the coherency cost (crosstalk) that makes throughput fall past
the peak concurrency N* = sqrt((1 - sigma) / kappa). The fit is a bounded least-squares fit
(`scipy.optimize.curve_fit`, lambda > 0, 0 <= sigma <= 1, kappa >= 0).

Confidence intervals (95 %, percentile) come from a seeded bootstrap over the measured points (the
repetitions of the concurrency levels): each resample refits the fitted curve times resampled *relative*
residuals (throughput noise is proportional to throughput), rescaled by sqrt(n / (n - 3)) because a fit
with 3 parameters leaves residuals smaller than the noise. They respect the bounds, unlike the
covariance-matrix intervals kept beside them for reference. They are refused (`ci95` None, `ci_note`
says why) when the fit has too few degrees of freedom: fewer than `MIN_LEVELS_FOR_CI` distinct levels or
fewer than `MIN_DF_FOR_CI` residual degrees of freedom (2 per parameter). Below that a bootstrap
interval is far narrower than the uncertainty (its coverage was 13-67 % instead of 95 %). Coverage on
synthetic noisy USL data is checked by simulation in `tests/test_usl.py`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_POINTS = 4
MIN_LEVELS_FOR_CI = 6
MIN_DF_FOR_CI = 6  # residual degrees of freedom: 2 per fitted parameter
KAPPA_EPSILON = 1e-9  # below this, no measurable coherency cost: the peak is unbounded


class UslError(ValueError):
    """The data cannot be fitted (too few points, non-positive values, or no convergence)."""


def usl_throughput(n: np.ndarray | float, lam: float, sigma: float, kappa: float) -> np.ndarray | float:
    """X(N) of the Universal Scalability Law."""
    n = np.asarray(n, dtype=float)
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def peak_concurrency(sigma: float, kappa: float) -> float:
    """N* = sqrt((1 - sigma) / kappa); infinite when kappa is (effectively) zero."""
    if kappa <= KAPPA_EPSILON:
        return math.inf
    return math.sqrt(max(1.0 - sigma, 0.0) / kappa)


@dataclass
class UslFit:
    """Fitted parameters, their 95 % intervals, and how well the curve fits."""

    lam: float
    sigma: float
    kappa: float
    ci95: dict[str, tuple[float, float]] | None  # None: refused, see ci_note
    covariance_ci95: dict[str, tuple[float, float]]
    r_squared: float
    points: list[tuple[float, float]] = field(default_factory=list)
    bootstrap_resamples: int = 0
    ci_note: str | None = None

    @property
    def peak_concurrency(self) -> float:
        return peak_concurrency(self.sigma, self.kappa)

    @property
    def peak_throughput(self) -> float:
        """X(N*) (at the largest measured N when N* is unbounded)."""
        n_star = self.peak_concurrency
        n = n_star if math.isfinite(n_star) else max(p[0] for p in self.points)
        return float(usl_throughput(n, self.lam, self.sigma, self.kappa))

    def predict(self, n: Sequence[float] | np.ndarray) -> list[float]:
        return [float(x) for x in np.atleast_1d(usl_throughput(np.asarray(n, dtype=float), *self.params))]

    @property
    def params(self) -> tuple[float, float, float]:
        return (self.lam, self.sigma, self.kappa)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (an unbounded peak is None, with a note)."""
        n_star = self.peak_concurrency
        return {
            "lambda": self.lam,
            "sigma": self.sigma,
            "kappa": self.kappa,
            "ci95": None
            if self.ci95 is None
            else {k: [_json_number(a), _json_number(b)] for k, (a, b) in self.ci95.items()},
            "ci_note": self.ci_note,
            "covariance_ci95": {k: list(v) for k, v in self.covariance_ci95.items()},
            "peak_concurrency": n_star if math.isfinite(n_star) else None,
            "peak_note": None if math.isfinite(n_star) else "kappa ~ 0: no retrograde region in the measured range",
            "peak_throughput": self.peak_throughput,
            "r_squared": self.r_squared,
            "points": [list(p) for p in self.points],
            "bootstrap_resamples": self.bootstrap_resamples,
        }


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _fit_once(n: np.ndarray, x: np.ndarray, p0: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import OptimizeWarning, curve_fit  # here: importing SciPy costs a second on every start

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        params, cov = curve_fit(
            usl_throughput,
            n,
            x,
            p0=p0,
            bounds=([1e-12, 0.0, 0.0], [np.inf, 1.0, np.inf]),
            method="trf",
            maxfev=20_000,
        )
    return params, cov


def fit_usl(
    concurrency: Sequence[float],
    throughput: Sequence[float],
    bootstrap_resamples: int = 300,
    seed: int = 0,
) -> UslFit:
    """Fit the USL to measured (N, X(N)) points; repeated N values (repetitions) are welcome."""
    n = np.asarray(concurrency, dtype=float)
    x = np.asarray(throughput, dtype=float)
    if n.shape != x.shape or n.ndim != 1:
        raise UslError(f"concurrency and throughput must be equal-length lists, got {n.shape} and {x.shape}")
    if len(np.unique(n)) < MIN_POINTS:
        raise UslError(f"the USL fit needs at least {MIN_POINTS} distinct concurrency levels, got {len(np.unique(n))}")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(x))) or np.any(n < 1) or np.any(x <= 0):
        raise UslError("concurrency must be >= 1 and throughput > 0 (finite) at every point")
    lam0 = float(np.max(x[n == n.min()] / n.min()))
    try:
        params, cov = _fit_once(n, x, (lam0, 0.05, 0.001))
    except (RuntimeError, ValueError) as exc:
        raise UslError(f"the USL fit did not converge: {exc}") from exc
    fitted = np.asarray(usl_throughput(n, *params))
    residuals = x - fitted
    total = float(np.sum((x - x.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residuals**2)) / total if total > 0 else 1.0
    names = ("lambda", "sigma", "kappa")
    stderr = np.sqrt(np.clip(np.diag(cov), 0.0, None)) if np.all(np.isfinite(cov)) else np.full(3, np.nan)
    covariance_ci = {
        k: (float(p - 1.96 * s), float(p + 1.96 * s)) for k, p, s in zip(names, params, stderr, strict=True)
    }
    ci_note = ci_refusal(n)
    ci: dict[str, tuple[float, float]] | None = None
    boot = np.empty((0, 3))
    if ci_note is None and bootstrap_resamples > 0:
        boot = _bootstrap(n, fitted, x / fitted - 1.0, params, bootstrap_resamples, seed)
        if len(boot) >= 10:
            ci = {k: _interval(boot[:, i]) for i, k in enumerate(names)}
            ci["peak_concurrency"] = _interval(np.array([peak_concurrency(s, k) for _, s, k in boot]))
        else:
            ci_note = f"only {len(boot)} of {bootstrap_resamples} bootstrap refits converged"
    elif ci_note is None:
        ci_note = "no bootstrap resamples requested"
    return UslFit(
        lam=float(params[0]),
        sigma=float(params[1]),
        kappa=float(params[2]),
        ci95=ci,
        covariance_ci95=covariance_ci,
        r_squared=r_squared,
        points=sorted(zip(n.tolist(), x.tolist(), strict=True)),
        bootstrap_resamples=len(boot),
        ci_note=ci_note,
    )


def ci_refusal(concurrency: np.ndarray) -> str | None:
    """Why the fit's points are too few for a confidence interval, or None when they suffice."""
    levels, df = len(np.unique(concurrency)), concurrency.size - 3
    if levels < MIN_LEVELS_FOR_CI or df < MIN_DF_FOR_CI:
        return (
            f"too few degrees of freedom for an interval: {levels} levels and {df} residual degrees of freedom "
            f"(needs >= {MIN_LEVELS_FOR_CI} levels and >= {MIN_DF_FOR_CI}; repeat the levels)"
        )
    return None


def _interval(values: np.ndarray) -> tuple[float, float]:
    """Percentile 95 % interval; an infinite end stays infinite (N* unbounded in some resamples)."""
    low, high = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
    return (float(low), float(high))


def _bootstrap(
    n: np.ndarray, fitted: np.ndarray, relative: np.ndarray, params: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    """Refit on fitted x (1 + resampled relative residuals, rescaled for the 3 fitted parameters); the rows
    are (lambda, sigma, kappa) of each converged refit."""
    rng = np.random.default_rng(seed)
    scaled = (relative - relative.mean()) * math.sqrt(relative.size / (relative.size - 3))
    rows = []
    for _ in range(resamples):
        synthetic = fitted * (1.0 + rng.choice(scaled, size=scaled.size, replace=True))
        if np.any(synthetic <= 0):
            continue
        try:
            refit, _ = _fit_once(n, synthetic, tuple(params))
        except (RuntimeError, ValueError):
            continue
        rows.append(refit)
    return np.asarray(rows).reshape(-1, 3)
