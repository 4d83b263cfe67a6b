"""Compare two runs metric by metric: ratio, bootstrap CI of the ratio, Mann-Whitney U, verdict.

For every metric present in both runs (matched by scenario, profile and metric name) the comparison is
the ratio of medians candidate / baseline, a percentile-bootstrap 95 % CI of that ratio (both groups
resampled independently), and a two-sided Mann-Whitney U p-value over the repetitions. When the
repetitions were interleaved A B A B (`CompareSettings(paired=True)`, used by the gate when it runs both
sides) the ratio is the median per-pair ratio, its CI a bootstrap over pairs, and the test Wilcoxon's
signed-rank test on the log ratios. P-values are Holm-adjusted across the directional metrics of one
comparison, so comparing twenty metrics does not give twenty chances of a false alarm.

Verdicts are direction-aware (`better` of the metric):

- `regression` / `improvement`: significant (adjusted p < alpha and the ratio CI excludes 1) and the
  ratio is beyond the factor threshold in the worse / better direction;
- `no_change`: a significant change smaller than the threshold, or no significant change from a
  measurement precise enough to see one (the CI half-width, as a factor, is within the threshold);
- `undecidable`: too few repetitions for the test to ever reach alpha, a baseline median of 0, an
  incomplete scenario, or a ratio CI too wide to resolve a change of the threshold's size;
- `informational`: metrics with `better = "none"` are shown, never judged.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.stats import mannwhitneyu, wilcoxon

from harness.results import RunResults, ScenarioResult

DEFAULT_THRESHOLD = 1.05
DEFAULT_ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000


class Verdict(StrEnum):
    """Outcome of comparing one metric."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no_change"
    UNDECIDABLE = "undecidable"
    INFORMATIONAL = "informational"


@dataclass(frozen=True)
class CompareSettings:
    """Decision parameters: factor threshold (> 1), significance level, bootstrap resamples and seed.

    `paired`: sample i of the baseline and sample i of the candidate were measured side by side
    (interleaved A B A B), so the test is on the per-pair ratios (Wilcoxon signed-rank on their logs)
    and drift shared by neighbouring runs cancels out.
    """

    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA
    resamples: int = BOOTSTRAP_RESAMPLES
    seed: int = 0
    paired: bool = False

    def __post_init__(self) -> None:
        if not self.threshold > 1.0:
            raise ValueError(f"threshold must be a factor > 1 (e.g. 1.05 for 5 %), got {self.threshold}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.resamples < 100:
            raise ValueError(f"resamples must be at least 100, got {self.resamples}")


@dataclass(frozen=True)
class MetricComparison:
    """The comparison of one metric between baseline and candidate."""

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

    @property
    def key(self) -> str:
        """`scenario.metric`, with the profile appended when it is not the default."""
        return f"{self.scenario}.{self.metric}" + (f" [{self.profile}]" if self.profile else "")


def ratio_bootstrap_ci(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(candidate) / median(baseline), resampling each group."""
    base = np.asarray(baseline, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    if base.size == 0 or cand.size == 0:
        raise ValueError("ratio_bootstrap_ci needs at least one sample in each group")
    rng = np.random.default_rng(seed)
    base_medians = np.median(rng.choice(base, size=(resamples, base.size), replace=True), axis=1)
    cand_medians = np.median(rng.choice(cand, size=(resamples, cand.size), replace=True), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = cand_medians / base_medians
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        raise ValueError("every bootstrap resample of the baseline has median 0; the ratio is undefined")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return float(low), float(high)


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


def _worse_factor(ratio: float, better: str) -> float:
    """Express a ratio as a factor that is > 1 when the candidate is worse."""
    if better == "lower":
        return ratio
    return 1.0 / ratio if ratio > 0 else math.inf


def _judge(
    better: str,
    ratio: float,
    ratio_ci: tuple[float, float],
    p_adjusted: float,
    settings: CompareSettings,
) -> tuple[Verdict, str]:
    worse = _worse_factor(ratio, better)
    significant = p_adjusted < settings.alpha and not (ratio_ci[0] <= 1.0 <= ratio_ci[1])
    # Half-width of the CI as a factor: the smallest change this measurement can resolve.
    resolution = math.sqrt(ratio_ci[1] / ratio_ci[0]) if ratio_ci[0] > 0 else math.inf
    change = f"ratio {ratio:.3f} (95 % CI {ratio_ci[0]:.3f}-{ratio_ci[1]:.3f}), p_adj={p_adjusted:.3g}"
    if significant and worse >= settings.threshold:
        return Verdict.REGRESSION, f"worse by more than x{settings.threshold:g}: {change}"
    if significant and worse <= 1.0 / settings.threshold:
        return Verdict.IMPROVEMENT, f"better by more than x{settings.threshold:g}: {change}"
    if significant or resolution <= settings.threshold:
        return Verdict.NO_CHANGE, f"within x{settings.threshold:g}: {change}"
    return (
        Verdict.UNDECIDABLE,
        f"too noisy: the CI resolves only changes beyond x{resolution:.3f} > threshold x{settings.threshold:g}; "
        f"{change}",
    )


@dataclass(frozen=True)
class _Measured:
    """Statistics of one metric before the decision; `verdict` is set when no test is possible."""

    ratio: float | None
    ratio_ci: tuple[float, float] | None
    p_value: float | None
    verdict: Verdict | None = None
    reason: str = ""
    floor: float = 0.0  # the smallest p-value the test can give with these sample sizes


def _measure(base: np.ndarray, cand: np.ndarray, better: str, settings: CompareSettings) -> _Measured:
    if better not in ("lower", "higher", "none"):
        raise ValueError(f"better must be 'lower', 'higher' or 'none', got {better!r}")
    if base.size == 0 or cand.size == 0:
        return _Measured(None, None, None, Verdict.UNDECIDABLE, "no samples in one of the runs")
    if not (np.all(np.isfinite(base)) and np.all(np.isfinite(cand))):
        return _Measured(None, None, None, Verdict.UNDECIDABLE, "samples contain NaN or infinity")
    base_median, cand_median = float(np.median(base)), float(np.median(cand))
    if base_median == 0.0:
        if cand_median == 0.0 and better != "none":
            return _Measured(1.0, (1.0, 1.0), None, Verdict.NO_CHANGE, "both medians are 0")
        verdict = Verdict.INFORMATIONAL if better == "none" else Verdict.UNDECIDABLE
        return _Measured(None, None, None, verdict, "baseline median is 0: the ratio is undefined")
    if settings.paired:
        return _measure_paired(base, cand, better, settings)
    ratio = cand_median / base_median
    ratio_ci = ratio_bootstrap_ci(base, cand, resamples=settings.resamples, seed=settings.seed)
    identical = bool(np.all(base == base[0]) and np.all(cand == base[0]))
    p_value = 1.0 if identical else float(mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    if better == "none":
        return _Measured(ratio, ratio_ci, p_value, Verdict.INFORMATIONAL, "informational (better = none)")
    return _Measured(ratio, ratio_ci, p_value, floor=min_two_sided_p(base.size, cand.size))


def _measure_paired(base: np.ndarray, cand: np.ndarray, better: str, settings: CompareSettings) -> _Measured:
    """Ratio = exp(median log(cand_i / base_i)); CI by bootstrap over pairs; Wilcoxon signed-rank p."""
    if base.size != cand.size:
        reason = f"a paired comparison needs as many candidate as baseline samples ({cand.size} vs {base.size})"
        return _Measured(None, None, None, Verdict.UNDECIDABLE, reason)
    if np.any(base <= 0) or np.any(cand <= 0):
        return _Measured(None, None, None, Verdict.UNDECIDABLE, "a paired comparison needs positive samples")
    logs = np.log(cand / base)
    ratio = float(np.exp(np.median(logs)))
    rng = np.random.default_rng(settings.seed)
    boot = np.median(rng.choice(logs, size=(settings.resamples, logs.size), replace=True), axis=1)
    low, high = np.exp(np.percentile(boot, [2.5, 97.5]))
    ratio_ci = (float(low), float(high))
    p_value = 1.0 if np.all(logs == 0) else float(wilcoxon(logs, alternative="two-sided").pvalue)
    if better == "none":
        return _Measured(ratio, ratio_ci, p_value, Verdict.INFORMATIONAL, "informational (better = none)")
    return _Measured(ratio, ratio_ci, p_value, floor=min(1.0, 2.0 / 2.0**logs.size))


def _too_few(m: _Measured, base_n: int, cand_n: int, tests: int, settings: CompareSettings) -> _Measured | None:
    """Undecidable when even the most extreme samples could not reach alpha after Holm over `tests` metrics."""
    if m.verdict is not None or m.floor * tests < settings.alpha:
        return None
    over = f" x {tests} metrics (Holm)" if tests > 1 else ""
    kind = f"{base_n} pairs" if settings.paired else f"{base_n} vs {cand_n} repetitions"
    reason = (
        f"too few repetitions ({kind}): the smallest possible p-value is {m.floor:.3g}{over} "
        f">= alpha {settings.alpha:g}; add repetitions or gate on fewer metrics"
    )
    return _Measured(m.ratio, m.ratio_ci, m.p_value, Verdict.UNDECIDABLE, reason, m.floor)


def compare_samples(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    better: str,
    settings: CompareSettings | None = None,
) -> tuple[float | None, tuple[float, float] | None, float | None, Verdict, str]:
    """Compare two sample sets on their own; returns (ratio, ratio CI, p-value, verdict, reason)."""
    settings = settings or CompareSettings()
    base, cand = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    m = _measure(base, cand, better, settings)
    m = _too_few(m, base.size, cand.size, 1, settings) or m
    if m.verdict is not None:
        return m.ratio, m.ratio_ci, m.p_value, m.verdict, m.reason
    assert m.ratio is not None and m.ratio_ci is not None and m.p_value is not None
    verdict, reason = _judge(better, m.ratio, m.ratio_ci, m.p_value, settings)
    return m.ratio, m.ratio_ci, m.p_value, verdict, reason


def _unusable(scenario: ScenarioResult, side: str) -> _Measured | None:
    """An undecidable result when the scenario did not complete (its figures cannot be trusted)."""
    if scenario.status == "complete":
        return None
    reason = f"{side} scenario is {scenario.status}" + (f": {scenario.reason}" if scenario.reason else "")
    return _Measured(None, None, None, Verdict.UNDECIDABLE, reason)


def compare_runs(
    baseline: RunResults,
    candidate: RunResults,
    settings: CompareSettings | None = None,
    metrics: Collection[str] | None = None,
) -> list[MetricComparison]:
    """Compare every metric present in both runs (or only `metrics`, as `scenario.metric`).

    Metrics present in only one run are skipped. P-values of the metrics that reach a test are
    Holm-adjusted together before the decision.
    """
    settings = settings or CompareSettings()
    base_metrics = {
        (s.name, s.profile, name): (s, metric) for s in baseline.scenarios for name, metric in s.metrics.items()
    }
    pairs = [
        (key, *base_metrics[key], s, metric)
        for s in candidate.scenarios
        for name, metric in s.metrics.items()
        if (key := (s.name, s.profile, name)) in base_metrics and (not metrics or f"{s.name}.{name}" in metrics)
    ]
    measured = [
        _unusable(base_s, "baseline")
        or _unusable(cand_s, "candidate")
        or _measure(np.asarray(b.samples, dtype=float), np.asarray(c.samples, dtype=float), b.better, settings)
        for _, base_s, b, cand_s, c in pairs
    ]
    tests = sum(1 for m in measured if m.verdict is None)
    measured = [
        _too_few(m, len(b.samples), len(c.samples), tests, settings) or m
        for m, (_, _, b, _, c) in zip(measured, pairs, strict=True)
    ]
    tested = [i for i, m in enumerate(measured) if m.verdict is None]
    adjusted = dict(zip(tested, holm_adjust([measured[i].p_value or 1.0 for i in tested]), strict=True))
    comparisons = []
    for i, ((scenario, profile, name), _, base, _, cand) in enumerate(pairs):
        m = measured[i]
        if m.verdict is None:
            assert m.ratio is not None and m.ratio_ci is not None
            verdict, reason = _judge(base.better, m.ratio, m.ratio_ci, adjusted[i], settings)
        else:
            verdict, reason = m.verdict, m.reason
        comparisons.append(
            MetricComparison(
                scenario=scenario,
                profile=profile,
                metric=name,
                unit=base.unit,
                better=base.better,
                baseline_median=float(np.median(base.samples)) if len(base.samples) else math.nan,
                candidate_median=float(np.median(cand.samples)) if len(cand.samples) else math.nan,
                n_baseline=len(base.samples),
                n_candidate=len(cand.samples),
                ratio=m.ratio,
                ratio_ci=m.ratio_ci,
                p_value=m.p_value,
                p_adjusted=adjusted.get(i),
                verdict=verdict,
                reason=reason,
            )
        )
    return comparisons


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def table_rows(comparisons: Sequence[MetricComparison]) -> list[list[str]]:
    """Rows of strings (header first) shared by the terminal and Markdown renderings."""
    rows = [["metric", "unit", "better", "baseline", "candidate", "ratio", "ratio 95 % CI", "p (adj)", "n", "verdict"]]
    for c in comparisons:
        ci = "-" if c.ratio_ci is None else f"{c.ratio_ci[0]:.3f}-{c.ratio_ci[1]:.3f}"
        rows.append(
            [
                c.key,
                c.unit,
                c.better,
                _fmt(c.baseline_median),
                _fmt(c.candidate_median),
                _fmt(c.ratio, ".3f"),
                ci,
                _fmt(c.p_adjusted if c.p_adjusted is not None else c.p_value),
                f"{c.n_baseline}/{c.n_candidate}",
                c.verdict.value,
            ]
        )
    return rows


def to_markdown(comparisons: Sequence[MetricComparison], settings: CompareSettings | None = None) -> str:
    """A Markdown table of the comparisons, with the decision parameters underneath."""
    settings = settings or CompareSettings()
    rows = table_rows(comparisons)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    lines.append("")
    if settings.paired:
        method = (
            "ratio = median of per-pair ratios (interleaved runs); Wilcoxon signed-rank on log ratios, "
            "Holm-adjusted; ratio CI: bootstrap over pairs"
        )
    else:
        method = (
            "ratio = candidate / baseline median; Mann-Whitney U, two-sided, Holm-adjusted; "
            "ratio CI: percentile bootstrap of both sides"
        )
    lines.append(
        f"Threshold x{settings.threshold:g}; alpha {settings.alpha:g}; {method}; {settings.resamples} resamples."
    )
    return "\n".join(lines) + "\n"
