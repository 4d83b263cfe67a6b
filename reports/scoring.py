"""Metric value -> 0-100 score on a log-normal curve through two control points (Lighthouse's method).

For a lower-is-better metric the score is ``1 - LogNormalCDF(value)`` with the median of the log-normal
at the "poor" control point (score 50) and the shape chosen so that the "good" control point scores 90:

    score(x) = 1 - Phi((ln x - ln poor) / sigma),   sigma = (ln poor - ln good) / z90,   z90 = Phi^-1(0.9)

A higher-is-better metric is scored on the reciprocal of its value (``1/x`` is lower-is-better, and
``ln(1/x) = -ln x``), which is the same as ``Phi((ln x - ln poor) / sigma)`` with
``sigma = (ln good - ln poor) / z90``. Values of 0 score 100 (lower) or 0 (higher).

A metric declared with ``scale = "complement"`` (fractions close to 1, such as availability) is scored
on ``1 - x`` as a lower-is-better value (the unavailability), so 0.999 vs 0.99 is a tenfold difference
rather than 1 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

Direction = Literal["lower", "higher"]
Scale = Literal["linear", "complement"]

Z90 = NormalDist().inv_cdf(0.9)


class ScoringError(ValueError):
    """Control points or a value that cannot be scored."""


@dataclass(frozen=True)
class Curve:
    """A scoring curve: ``good`` scores 90 and ``poor`` scores 50, in the metric's own units."""

    good: float
    poor: float
    direction: Direction
    scale: Scale = "linear"

    def __post_init__(self) -> None:
        good, poor = self._transformed(self.good), self._transformed(self.poor)
        if not (good > 0 and poor > 0 and math.isfinite(good) and math.isfinite(poor)):
            raise ScoringError(f"control points must be positive and finite, got good={self.good} poor={self.poor}")
        lower_is_better = self.direction == "lower" or self.scale == "complement"
        if lower_is_better and not good < poor:
            raise ScoringError(f"a {self._describe()} metric needs good < poor, got good={self.good} poor={self.poor}")
        if not lower_is_better and not good > poor:
            raise ScoringError(f"a {self._describe()} metric needs good > poor, got good={self.good} poor={self.poor}")

    def _describe(self) -> str:
        return f"{self.direction}-is-better" + (" (complement scale)" if self.scale == "complement" else "")

    def _transformed(self, value):  # float or ndarray
        return 1.0 - value if self.scale == "complement" else value

    def score(self, value: float) -> float:
        """Score in 0..100 (unrounded) of ``value`` (scalar arithmetic: the same curve as :meth:`scores`)."""
        if not math.isfinite(value):
            raise ScoringError(f"cannot score a non-finite value {value!r}")
        x = max(self._transformed(float(value)), 0.0)
        good, poor = self._transformed(self.good), self._transformed(self.poor)
        sigma = abs(math.log(poor) - math.log(good)) / Z90
        lower_is_better = self.direction == "lower" or self.scale == "complement"
        if x == 0.0:
            return 100.0 if lower_is_better else 0.0
        z = (math.log(x) - math.log(poor)) / sigma
        upper_tail = 0.5 * math.erfc(z / math.sqrt(2.0))  # 1 - Phi(z)
        return 100.0 * (upper_tail if lower_is_better else 1.0 - upper_tail)

    def scores(self, values: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`score`."""
        x = self._transformed(np.asarray(values, dtype=float))
        good, poor = self._transformed(self.good), self._transformed(self.poor)
        sigma = abs(math.log(poor) - math.log(good)) / Z90
        lower_is_better = self.direction == "lower" or self.scale == "complement"
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - math.log(poor)) / sigma
        from scipy.stats import norm  # here: importing SciPy costs a second on every start

        fraction = norm.sf(z) if lower_is_better else norm.cdf(z)
        return 100.0 * np.asarray(fraction, dtype=float)

    def with_good(self, good: float) -> Curve:
        """The same curve shape moved so that ``good`` scores 90 (used for pack targets).

        The ratio poor/good (on the transformed scale) is kept, so a stricter target moves both points.
        """
        ratio = self._transformed(self.poor) / self._transformed(self.good)
        new_good_t = self._transformed(good)
        new_poor_t = new_good_t * ratio
        poor = 1.0 - new_poor_t if self.scale == "complement" else new_poor_t
        return Curve(good=good, poor=poor, direction=self.direction, scale=self.scale)
