"""Compare two sets of runs metric by metric: ratio, its exact rank CI, a rank test, an equivalence verdict.

The unit of comparison is the run. Repetitions inside one run share its machine state (load, thermal,
caches, data layout), so they say nothing about how much a second run would differ: each run
contributes one value per metric (its median), and a side with several runs is what measures run-to-run
variation. One run per side cannot, and is never decided either way.

For every metric present on both sides (matched by scenario, profile and metric name), on the log scale:

- unpaired (runs of two sides, e.g. two sets of results files): the ratio is exp of the Hodges-Lehmann
  shift between the sides, its CI the exact distribution-free interval that inverts the Mann-Whitney U
  test (Moses), and the p-value Mann-Whitney's, two-sided;
- paired (`CompareSettings(paired=True)`: run i of each side measured side by side, A B A B): the ratio
  is exp of the Hodges-Lehmann pseudo-median of the per-pair log ratios, its CI the exact interval that
  inverts Wilcoxon's signed-rank test (Tukey's Walsh averages), the p-value Wilcoxon's.

The CI's level is 1 - alpha (95 % by default); it needs at least 4 runs per side unpaired, 6 pairs
paired. P-values are Holm-adjusted across the directional metrics of one comparison. Verdicts are
direction-aware (`better` of the metric), with t the factor threshold:

- `regression` / `improvement`: significant (adjusted p < alpha and the CI excludes 1) and the ratio
  beyond t in the worse / better direction;
- `no_change`: an equivalence test: the whole CI of the ratio lies within [1/t, t];
- `undecidable`: anything else (one run per side, too few runs for a CI, a CI reaching beyond the
  threshold band without a significant change, non-positive samples, an incomplete scenario). A metric
  reported as a bound ("at least" / "at most") can show a change in the direction the bound allows,
  never "no change";
- `informational`: metrics with `better = "none"` are shown, never judged.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from statistics import NormalDist

import numpy as np

from harness.results import Metric, RunResults, ScenarioResult

DEFAULT_THRESHOLD = 1.05
DEFAULT_ALPHA = 0.05
_EXACT_LIMIT = 40_000  # exact null distributions up to this many pairwise differences, normal beyond


class Verdict(StrEnum):
    """Outcome of comparing one metric."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no_change"
    UNDECIDABLE = "undecidable"
    INFORMATIONAL = "informational"


@dataclass(frozen=True)
class CompareSettings:
    """Decision parameters: factor threshold (> 1) and significance level (the CI's level is 1 - alpha).

    `paired`: run i of the baseline and run i of the candidate were measured side by side (interleaved
    A B A B), so the test is on the per-pair ratios and drift shared by neighbouring runs cancels out.
    """

    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    paired: bool = False

    def __post_init__(self) -> None:
        if not self.threshold > 1.0:
            raise ValueError(f"threshold must be a factor > 1 (e.g. 1.05 for 5 %), got {self.threshold}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")


@dataclass(frozen=True)
class MetricComparison:
    """The comparison of one metric between baseline and candidate runs (n = runs per side)."""

    scenario: str
    profile: str
    metric: str
    unit: str
    better: str
    baseline_median: float
    candidate_median: float
    n_baseline: int
    n_candidate: int
    ratio: float | None
    ratio_ci: tuple[float, float] | None
    p_value: float | None
    p_adjusted: float | None
    verdict: Verdict
    reason: str
    bound: str = "exact"  # of the ratio: "exact", "at_least" (true ratio >= shown), "at_most", "unknown"

    @property
    def key(self) -> str:
        """`scenario.metric`, with the profile appended when it is not the default."""
        return f"{self.scenario}.{self.metric}" + (f" [{self.profile}]" if self.profile else "")


# --- exact rank statistics -------------------------------------------------------------------------


@cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of orderings giving each Mann-Whitney U = 0..mn (coefficients of the q-binomial [m+n, m])."""
    coef = [0] * (m * n + 1)
    coef[0] = 1
    for i in range(1, m + 1):  # multiply by (1 - q^(n+i)) / (1 - q^i)
        for k in range(m * n, n + i - 1, -1):
            coef[k] -= coef[k - n - i]
        for k in range(i, m * n + 1):
            coef[k] += coef[k - i]
    return tuple(coef)


@cache
def _signed_rank_counts(n: int) -> tuple[int, ...]:
    """Number of sign patterns giving each Wilcoxon T+ = 0..n(n+1)/2 (coefficients of prod (1 + q^i))."""
    coef = [1] + [0] * (n * (n + 1) // 2)
    for i in range(1, n + 1):
        for k in range(len(coef) - 1, i - 1, -1):
            coef[k] += coef[k - i]
    return tuple(coef)


def _lower_critical(counts: Sequence[int], alpha_half: float) -> int | None:
    """The largest c with P(S <= c) <= alpha/2 under the null (None when even P(S = 0) exceeds it)."""
    total, tail, best = sum(counts), 0, None
    for c, count in enumerate(counts):
        tail += count
        if tail / total > alpha_half:
            break
        best = c
    return best


def _normal_critical(mean: float, sd: float, alpha_half: float) -> int | None:
    c = math.floor(mean + NormalDist().inv_cdf(alpha_half) * sd)
    return c if c >= 0 else None


def _rank_interval(values: np.ndarray, c: int | None) -> tuple[float, float] | None:
    """(v_(c+1), v_(N-c)) of the sorted values, the interval that inverts a rank test with critical c."""
    if c is None:
        return None
    ordered = np.sort(values)
    return float(ordered[c]), float(ordered[ordered.size - 1 - c])


def shift_ci(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, tuple[float, float] | None]:
    """Hodges-Lehmann shift of y over x and its exact (Moses) CI, inverting Mann-Whitney U (None if n too small)."""
    diffs = (y[None, :] - x[:, None]).ravel()
    alpha_half = (1.0 - confidence) / 2.0
    m, n = x.size, y.size
    if m * n <= _EXACT_LIMIT:
        c = _lower_critical(_u_counts(m, n), alpha_half)
    else:
        c = _normal_critical(m * n / 2.0, math.sqrt(m * n * (m + n + 1) / 12.0), alpha_half)
    return float(np.median(diffs)), _rank_interval(diffs, c)


def pseudo_median_ci(d: np.ndarray, confidence: float) -> tuple[float, tuple[float, float] | None]:
    """Hodges-Lehmann pseudo-median of d and its exact (Tukey) CI, inverting the signed-rank test."""
    i, j = np.triu_indices(d.size)
    walsh = (d[i] + d[j]) / 2.0
    alpha_half = (1.0 - confidence) / 2.0
    n = d.size
    if walsh.size <= _EXACT_LIMIT:
        c = _lower_critical(_signed_rank_counts(n), alpha_half)
    else:
        c = _normal_critical(n * (n + 1) / 4.0, math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0), alpha_half)
    return float(np.median(walsh)), _rank_interval(walsh, c)


def min_two_sided_p(n_baseline: int, n_candidate: int) -> float:
    """The smallest two-sided p-value an exact Mann-Whitney U test can give for these group sizes."""
    return min(1.0, 2.0 / math.comb(n_baseline + n_candidate, n_baseline))


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# --- one metric --------------------------------------------------------------------------------------


def _worse_factor(ratio: float, better: str) -> float:
    """Express a ratio as a factor that is > 1 when the candidate is worse."""
    if better == "lower":
        return ratio
    return 1.0 / ratio if ratio > 0 else math.inf


def ratio_bound(baseline: str, candidate: str) -> str:
    """What the shown ratio candidate / baseline is for the true one, from each side's bound.

    A candidate figure that is at least its value over a baseline that is exact or at most its value
    gives a ratio that is at least the one shown ("at_least"); the mirror case "at_most"; bounds
    pointing the same way leave the true ratio anywhere ("unknown").
    """
    if baseline == candidate == "exact":
        return "exact"
    if candidate in ("exact", "at_least") and baseline in ("exact", "at_most"):
        return "at_least"
    if candidate in ("exact", "at_most") and baseline in ("exact", "at_least"):
        return "at_most"
    return "unknown"


def judge(
    better: str,
    ratio: float,
    ratio_ci: tuple[float, float] | None,
    p_adjusted: float | None,
    settings: CompareSettings,
    bound: str = "exact",
) -> tuple[Verdict, str]:
    """The verdict of one directional metric from its ratio, CI and Holm-adjusted p-value."""
    t = settings.threshold
    if ratio_ci is None:
        return Verdict.UNDECIDABLE, f"ratio {ratio:.3f}; too few runs for a {1 - settings.alpha:.0%} CI of the ratio"
    level = f"{1 - settings.alpha:.0%}"
    p_text = "-" if p_adjusted is None else f"{p_adjusted:.3g}"
    change = f"ratio {ratio:.3f} ({level} CI {ratio_ci[0]:.3f}-{ratio_ci[1]:.3f}), p_adj={p_text}"
    significant = p_adjusted is not None and p_adjusted < settings.alpha and not ratio_ci[0] <= 1.0 <= ratio_ci[1]
    worse = _worse_factor(ratio, better)
    # a bound shows a change only in the direction it allows: "at least" can only be worse than shown, etc.
    worse_allowed = bound == "exact" or (bound == "at_least") == (better == "lower")
    better_allowed = bound == "exact" or (bound == "at_most") == (better == "lower")
    if bound == "unknown":
        return Verdict.UNDECIDABLE, f"both sides are bounds pointing the same way: the true ratio is unknown; {change}"
    if significant and worse >= t and worse_allowed:
        return Verdict.REGRESSION, f"worse by more than x{t:g}: {change}"
    if significant and worse <= 1.0 / t and better_allowed:
        return Verdict.IMPROVEMENT, f"better by more than x{t:g}: {change}"
    if bound != "exact":
        return Verdict.UNDECIDABLE, f"the ratio is a bound ({bound}), which cannot show no change; {change}"
    if 1.0 / t <= ratio_ci[0] and ratio_ci[1] <= t:
        return Verdict.NO_CHANGE, f"equivalent: the whole CI lies within x{1 / t:.3f}-x{t:g}; {change}"
    if significant:
        return Verdict.UNDECIDABLE, f"a significant change, not shown to be beyond or within x{t:g}: {change}"
    return Verdict.UNDECIDABLE, f"no significant change, but the CI reaches beyond x{t:g}: {change}"


@dataclass(frozen=True)
class _Measured:
    """Statistics of one metric before the decision; `verdict` is set when no test is possible."""

    ratio: float | None
    ratio_ci: tuple[float, float] | None
    p_value: float | None
    verdict: Verdict | None = None
    reason: str = ""
    floor: float = 0.0  # the smallest p-value the test can give with these numbers of runs


def _measure(base: np.ndarray, cand: np.ndarray, better: str, settings: CompareSettings) -> _Measured:
    if better not in ("lower", "higher", "none"):
        raise ValueError(f"better must be 'lower', 'higher' or 'none', got {better!r}")
    if base.size == 0 or cand.size == 0:
        return _Measured(None, None, None, Verdict.UNDECIDABLE, "no runs with this metric on one side")
    if not (np.all(np.isfinite(base)) and np.all(np.isfinite(cand))):
        return _Measured(None, None, None, Verdict.UNDECIDABLE, "values contain NaN or infinity")
    informational = Verdict.INFORMATIONAL if better == "none" else None
    if np.all(base == 0.0) and np.all(cand == 0.0):
        return _Measured(1.0, None, None, informational or Verdict.UNDECIDABLE, "every value is 0: no ratio")
    if np.any(base <= 0.0) or np.any(cand <= 0.0):
        ratio = float(np.median(cand) / np.median(base)) if np.median(base) > 0 else None
        reason = "values of 0 or below: a ratio needs positive values"
        return _Measured(ratio, None, None, informational or Verdict.UNDECIDABLE, reason)
    from scipy.stats import mannwhitneyu, wilcoxon  # here: importing SciPy costs a second on every start

    confidence = 1.0 - settings.alpha
    log_base, log_cand = np.log(base), np.log(cand)
    if settings.paired:
        if base.size != cand.size:
            reason = f"a paired comparison needs as many candidate as baseline runs ({cand.size} vs {base.size})"
            return _Measured(None, None, None, Verdict.UNDECIDABLE, reason)
        logs = log_cand - log_base
        shift, ci = pseudo_median_ci(logs, confidence)
        p_value = 1.0 if np.all(logs == 0) else float(wilcoxon(logs, alternative="two-sided").pvalue)
        floor = min(1.0, 2.0 / 2.0**logs.size)
    else:
        shift, ci = shift_ci(log_base, log_cand, confidence)
        identical = bool(np.all(base == base[0]) and np.all(cand == base[0]))
        p_value = 1.0 if identical else float(mannwhitneyu(log_cand, log_base, alternative="two-sided").pvalue)
        floor = min_two_sided_p(base.size, cand.size)
    ratio_ci = None if ci is None else (math.exp(ci[0]), math.exp(ci[1]))
    if informational:
        return _Measured(math.exp(shift), ratio_ci, p_value, informational, "informational (better = none)")
    return _Measured(math.exp(shift), ratio_ci, p_value, floor=floor)


def _one_run_reason(n_base: int, n_cand: int) -> str | None:
    if n_base > 1 or n_cand > 1:
        return None
    return (
        "one run per side: run-to-run variation is unknown (repetitions inside a run are not independent "
        "runs); give several runs per side or run both sides interleaved"
    )


def _too_few_reason(m: _Measured, n_base: int, n_cand: int, tests: int, settings: CompareSettings) -> str:
    """Why the test cannot reach alpha after Holm over `tests` metrics (empty when it can)."""
    if m.floor * tests < settings.alpha:
        return ""
    over = f" x {tests} metrics (Holm)" if tests > 1 else ""
    kind = f"{n_base} pairs" if settings.paired else f"{n_base} vs {n_cand} runs"
    return (
        f"; too few runs to show a change ({kind}): the smallest possible p-value is {m.floor:.3g}{over} "
        f">= alpha {settings.alpha:g}"
    )


def compare_samples(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    better: str,
    settings: CompareSettings | None = None,
    bound: str = "exact",
) -> tuple[float | None, tuple[float, float] | None, float | None, Verdict, str]:
    """Compare one metric's per-run values on their own; returns (ratio, ratio CI, p-value, verdict, reason)."""
    settings = settings or CompareSettings()
    base, cand = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    m = _measure(base, cand, better, settings)
    if m.verdict is None:
        assert m.ratio is not None
        verdict, reason = judge(better, m.ratio, m.ratio_ci, m.p_value, settings, bound)
        if verdict is Verdict.UNDECIDABLE:
            reason = _one_run_reason(base.size, cand.size) or reason + _too_few_reason(
                m, base.size, cand.size, 1, settings
            )
        return m.ratio, m.ratio_ci, m.p_value, verdict, reason
    return m.ratio, m.ratio_ci, m.p_value, m.verdict, m.reason


# --- whole runs ----------------------------------------------------------------------------------------


def _unusable(scenarios: Sequence[ScenarioResult], side: str) -> _Measured | None:
    """An undecidable result when a scenario did not complete in some run (its figures cannot be trusted)."""
    for scenario in scenarios:
        if scenario.status != "complete":
            reason = f"{side} scenario is {scenario.status}" + (f": {scenario.reason}" if scenario.reason else "")
            return _Measured(None, None, None, Verdict.UNDECIDABLE, reason)
    return None


def _side_bound(metrics: Sequence[Metric]) -> str:
    bounds = {getattr(m, "bound", "exact") for m in metrics} - {"exact"}
    return bounds.pop() if len(bounds) == 1 else ("exact" if not bounds else "mixed")


@dataclass
class _Side:
    scenarios: list[ScenarioResult]
    metrics: list[Metric]


def _collect(runs: Sequence[RunResults]) -> dict[tuple[str, str, str], _Side]:
    sides: dict[tuple[str, str, str], _Side] = {}
    for run in runs:
        for s in run.scenarios:
            for name, metric in s.metrics.items():
                side = sides.setdefault((s.name, s.profile, name), _Side([], []))
                side.scenarios.append(s)
                side.metrics.append(metric)
    return sides


def _as_runs(runs: RunResults | Sequence[RunResults]) -> list[RunResults]:
    return [runs] if isinstance(runs, RunResults) else list(runs)


def compare_runs(
    baseline: RunResults | Sequence[RunResults],
    candidate: RunResults | Sequence[RunResults],
    settings: CompareSettings | None = None,
    metrics: Collection[str] | None = None,
) -> list[MetricComparison]:
    """Compare every metric present on both sides (or only `metrics`, as `scenario.metric`).

    Each side is one run or several; each run contributes its median of each metric. Metrics present
    on only one side are skipped. P-values of the metrics that reach a test are Holm-adjusted together.
    """
    settings = settings or CompareSettings()
    base_runs, cand_runs = _as_runs(baseline), _as_runs(candidate)
    base_sides, cand_sides = _collect(base_runs), _collect(cand_runs)
    keys = [key for key in cand_sides if key in base_sides and (not metrics or f"{key[0]}.{key[2]}" in metrics)]
    measured: list[_Measured] = []
    bounds: list[str] = []
    for key in keys:
        base, cand = base_sides[key], cand_sides[key]
        better = base.metrics[0].better
        bounds.append(ratio_bound(_side_bound(base.metrics), _side_bound(cand.metrics)))  # "mixed" -> unknown
        measured.append(
            _unusable(base.scenarios, "baseline")
            or _unusable(cand.scenarios, "candidate")
            or _measure(
                np.asarray([m.median for m in base.metrics], dtype=float),
                np.asarray([m.median for m in cand.metrics], dtype=float),
                better,
                settings,
            )
        )
    tested = [i for i, m in enumerate(measured) if m.verdict is None]
    adjusted = dict(zip(tested, holm_adjust([measured[i].p_value or 1.0 for i in tested]), strict=True))
    comparisons = []
    for i, key in enumerate(keys):
        base, cand, m = base_sides[key], cand_sides[key], measured[i]
        n_base, n_cand = len(base.metrics), len(cand.metrics)
        first = base.metrics[0]
        if m.verdict is None:
            assert m.ratio is not None
            verdict, reason = judge(first.better, m.ratio, m.ratio_ci, adjusted[i], settings, bounds[i])
            if verdict is Verdict.UNDECIDABLE:
                reason = _one_run_reason(n_base, n_cand) or reason + _too_few_reason(
                    m, n_base, n_cand, len(tested), settings
                )
        else:
            verdict, reason = m.verdict, m.reason
        comparisons.append(
            MetricComparison(
                scenario=key[0],
                profile=key[1],
                metric=key[2],
                unit=first.unit,
                better=first.better,
                baseline_median=float(np.median([x.median for x in base.metrics])),
                candidate_median=float(np.median([x.median for x in cand.metrics])),
                n_baseline=n_base,
                n_candidate=n_cand,
                ratio=m.ratio,
                ratio_ci=m.ratio_ci,
                p_value=m.p_value,
                p_adjusted=adjusted.get(i),
                verdict=verdict,
                reason=reason,
                bound=bounds[i],
            )
        )
    return comparisons


# --- rendering ---------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


_BOUND_MARK = {"exact": "", "at_least": ">= ", "at_most": "<= ", "unknown": "? "}


def table_rows(comparisons: Sequence[MetricComparison]) -> list[list[str]]:
    """Rows of strings (header first) shared by the terminal and Markdown renderings; n = runs per side."""
    rows = [["metric", "unit", "better", "baseline", "candidate", "ratio", "ratio CI", "p (adj)", "runs", "verdict"]]
    for c in comparisons:
        ci = "-" if c.ratio_ci is None else f"{c.ratio_ci[0]:.3f}-{c.ratio_ci[1]:.3f}"
        rows.append(
            [
                c.key,
                c.unit,
                c.better,
                _fmt(c.baseline_median),
                _fmt(c.candidate_median),
                _BOUND_MARK.get(c.bound, "") + _fmt(c.ratio, ".3f"),
                ci,
                _fmt(c.p_adjusted if c.p_adjusted is not None else c.p_value),
                f"{c.n_baseline}/{c.n_candidate}",
                c.verdict.value,
            ]
        )
    return rows


def method_note(settings: CompareSettings) -> str:
    """One line saying how the figures were computed."""
    level = f"{1 - settings.alpha:.0%}"
    if settings.paired:
        method = (
            "runs paired (interleaved); ratio = exp(Hodges-Lehmann pseudo-median of per-pair log ratios); "
            f"Wilcoxon signed-rank, Holm-adjusted; exact {level} CI (Walsh averages)"
        )
    else:
        method = (
            "one value per run (its median); ratio = exp(Hodges-Lehmann shift of log values); "
            f"Mann-Whitney U, two-sided, Holm-adjusted; exact {level} CI (Moses)"
        )
    return (
        f"Threshold x{settings.threshold:g}; alpha {settings.alpha:g}; no change = the whole CI within "
        f"x{1 / settings.threshold:.3f}-x{settings.threshold:g}; {method}."
    )


def to_markdown(comparisons: Sequence[MetricComparison], settings: CompareSettings | None = None) -> str:
    """A Markdown table of the comparisons, with the decision parameters underneath."""
    settings = settings or CompareSettings()
    rows = table_rows(comparisons)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    lines += ["", method_note(settings)]
    return "\n".join(lines) + "\n"
