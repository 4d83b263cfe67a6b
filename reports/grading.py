"""Grading: a results file -> metric, area and overall scores with letters and honest 95 % intervals.

Per profile (baseline / optimized ...), each rubric metric is scored at its median on its scoring curve.

* Intervals. A metric's score interval is its median's order-statistic interval mapped through the
  (monotonic) curve, so it keeps the median interval's exact coverage; below n = 6 there is none
  ("n too small"). An area or overall score is a weighted mean of many medians: its interval maps every
  input's interval taken at the Bonferroni level ``1 - 0.05 / k`` (k inputs), so all hold together with
  probability >= 95 %. When any input has no interval at that level the score has none either.
* Provisional. An area that rests on any metric (graded or cap) with n < 6 is provisional, and so is an
  overall score that includes one.
* Bounds. A metric that is only a bound (``at_least`` / ``at_most``) is scored at its bound, so its score
  is a bound too: "at best" (the true score is at most this: a lower-is-better metric that is at least
  its value, or a higher-is-better metric that is at most its value) or "at least" (the other two cases).
  An area or overall score inherits the direction of its bounded inputs; inputs bounded in both
  directions make it "bounded both ways" (neither).
* Targets. Every metric has one target (`target_for`), which every part of a report states: the pack's
  (the results file's ``targets``), else the rubric's good control point. A pack target moves the
  scoring curve so that it scores 90, unless it cannot anchor a curve (0 hung requests): the rubric's
  control points then score the metric and the target stays the pack's.
* Caps limit an area's score whatever its mean, and are checked against the worst repetition in the
  metric's direction: one failed restore drill in three caps Backup.
* Not in the pack. A metric of a scenario the run did not include at all (under no profile: the pack
  left it out, e.g. `consistency` in the quick pack) is left out of its area, which is graded on the
  rest and names what it left out (`not_in_pack`); an area none of whose metrics ran is "not measured".
* Missing and failed. A missing metric (or an invalid scenario) makes its area "not measured"; the
  overall score is the weighted mean of the measured areas, and the missing areas are named. A scenario
  that failed (crashed) makes its areas "failed": a failed area counts 0 in its profile's overall score,
  so a crash can never raise a grade. Two profiles are compared only on the areas both measured
  (`compare`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from harness.results import Metric, RunResults, ScenarioResult
from harness.stats import CONFIDENCE, MIN_N_FOR_CI, median_ci, min_n_for
from reports.rubric import NOT_MEASURED, Area, Cap, MetricRule, Rubric
from reports.rubric import load as load_rubric
from reports.scoring import Curve, ScoringError

USABLE_STATUSES = ("complete", "incomplete")
PROFILE_ORDER = ("baseline", "optimized")
FAILED = "failed"

ScoreBound = Literal["exact", "at_most", "at_least", "mixed"]
QUALIFIERS = {"exact": "", "at_most": "at best", "at_least": "at least", "mixed": "bounded both ways"}


@dataclass
class MetricGrade:
    """One metric's measured value, its interval, effective control points, score and letter."""

    key: str
    unit: str
    better: str
    value: float
    n: int
    ci95: tuple[float, float] | None
    ci_coverage: float | None
    bound: str  # the figure's own bound: exact / at_least / at_most
    good: float  # the scoring curve's control points: good scores 90, poor 50
    poor: float
    target: float  # the metric's one target (`target_for`): the pack's, else the rubric's good
    target_from: str  # "pack" or "rubric"
    weight: float
    score: float
    score_ci: tuple[float, float] | None
    letter: str
    flips: bool
    score_bound: ScoreBound = "exact"
    claim: str | None = None

    @property
    def n_too_small(self) -> bool:
        return self.ci95 is None

    @property
    def direction(self) -> str:
        """ "lower" or "higher": which side of the target is good (from the scoring curve)."""
        return "lower" if self.good < self.poor else "higher"

    @property
    def meets_target(self) -> bool:
        """The graded value is at or on the good side of the target."""
        return self.value <= self.target if self.direction == "lower" else self.value >= self.target

    @property
    def qualifier(self) -> str:
        return QUALIFIERS[self.score_bound]


@dataclass
class AreaGrade:
    key: str
    title: str
    weight: float
    status: str = "measured"  # measured / not measured / failed
    missing: list[str] = field(default_factory=list)  # "scenario.metric: why"
    not_in_pack: list[str] = field(default_factory=list)  # metrics of scenarios the run did not include
    metrics: list[MetricGrade] = field(default_factory=list)
    score: float | None = None
    score_ci: tuple[float, float] | None = None
    score_ci_coverage: float | None = None  # a lower bound (Bonferroni)
    letter: str = NOT_MEASURED
    flips: bool = False
    cap: str | None = None  # the reason of the cap that limited the score
    provisional: bool = False  # rests on a metric with n < 6
    score_bound: ScoreBound = "exact"
    min_n: int = 0

    @property
    def measured(self) -> bool:
        return self.status == "measured"

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @property
    def qualifier(self) -> str:
        return QUALIFIERS[self.score_bound]


@dataclass
class Assessment:
    """The grades of one profile of one run."""

    run_id: str
    profile: str
    graded: bool
    reason: str | None = None
    areas: list[AreaGrade] = field(default_factory=list)
    score: float | None = None
    score_ci: tuple[float, float] | None = None
    score_ci_coverage: float | None = None
    letter: str = "not graded"
    flips: bool = False
    min_n: int = 0
    provisional: bool = False
    score_bound: ScoreBound = "exact"

    @property
    def not_measured(self) -> list[AreaGrade]:
        return [a for a in self.areas if a.status == NOT_MEASURED]

    @property
    def failed(self) -> list[AreaGrade]:
        return [a for a in self.areas if a.failed]

    @property
    def qualifier(self) -> str:
        return QUALIFIERS[self.score_bound]

    def area(self, key: str) -> AreaGrade:
        for area in self.areas:
            if area.key == key:
                return area
        raise KeyError(f"no area {key!r}")

    def metric(self, key: str) -> MetricGrade | None:
        for area in self.areas:
            for grade in area.metrics:
                if grade.key == key:
                    return grade
        return None


@dataclass
class Comparison:
    """Profiles scored on the areas every one of them measured (so a missing area favours nobody)."""

    areas: list[str]  # area keys
    left_out: list[str]  # area titles measured by some profiles only, or by none
    scores: dict[str, float]
    letters: dict[str, str]
    provisional: dict[str, bool]
    qualifiers: dict[str, str]


def profiles(run: RunResults) -> list[str]:
    """Profiles present in the run, baseline before optimized."""
    present = run.profiles
    return [p for p in PROFILE_ORDER if p in present] + [p for p in present if p not in PROFILE_ORDER]


def find_scenario(run: RunResults, name: str, profile: str) -> ScenarioResult | None:
    """The last run of scenario ``name`` under ``profile`` (a re-run replaces an earlier one)."""
    found = [s for s in run.scenarios if s.name == name and s.profile == profile]
    return found[-1] if found else None


def lookup_metric(run: RunResults, key: str, profile: str) -> tuple[Metric | None, str | None]:
    """The metric ``scenario.metric`` of ``profile``, or None and why it is missing."""
    scenario_name, metric_name = key.split(".", 1)
    scenario = find_scenario(run, scenario_name, profile)
    if scenario is None:
        return None, "scenario not run"
    if scenario.status not in USABLE_STATUSES:
        return None, f"scenario {scenario.status}: {scenario.reason or 'no reason given'}"
    metric = scenario.metrics.get(metric_name)
    if metric is None:
        return None, "metric not in results"
    return metric, None


@dataclass(frozen=True)
class Target:
    """The one target of a metric in a report: the pack's if it states one, else the rubric's good."""

    key: str
    value: float
    direction: str  # "lower" (stay at or below), "higher" (at or above) or "none" (near)
    source: str  # "pack" or "rubric"


def target_for(key: str, targets: dict[str, float], rubric: Rubric, better: str = "none") -> Target | None:
    """The target of ``scenario.metric``: ``targets`` (the results file's, from the pack) first, then the
    rubric's good control point; None when neither names one. ``better`` gives the direction of a metric
    the rubric does not grade."""
    rule = rubric.rule(key)
    if rule is not None:
        return rule_target(rule, targets)
    return Target(key, float(targets[key]), better, "pack") if key in targets else None


def rule_target(rule: MetricRule, targets: dict[str, float]) -> Target:
    """The target of a graded metric, its direction from the rubric's control points."""
    direction = "lower" if rule.good < rule.poor else "higher"
    if rule.key in targets:
        return Target(rule.key, float(targets[rule.key]), direction, "pack")
    return Target(rule.key, rule.good, direction, "rubric")


def curve_for(rule: MetricRule, metric: Metric, targets: dict[str, float]) -> tuple[Curve, str]:
    """The scoring curve of a metric: rubric control points, moved to the pack target if one is given
    (the second value says where its good point comes from)."""
    inferred = "lower" if rule.good < rule.poor else "higher"
    if metric.better in ("lower", "higher") and metric.better != inferred:
        raise ValueError(
            f"{rule.key}: the results say {metric.better}-is-better but the rubric's control points "
            f"(good={rule.good}, poor={rule.poor}) are {inferred}-is-better"
        )
    curve = Curve(rule.good, rule.poor, inferred, rule.scale)  # type: ignore[arg-type]
    if rule.key in targets:
        try:
            return curve.with_good(targets[rule.key]), "pack"
        except ScoringError:
            # A pack target such as "0 hung requests" is a fine threshold but cannot anchor a log-normal
            # curve (log 0); the rubric's own control points score the metric instead.
            return curve, "rubric (the pack target cannot anchor a scoring curve)"
    return curve, "rubric"


def score_bound(metric_bound: str, direction: str) -> ScoreBound:
    """What a score computed at a bounded figure is: an upper bound ("at_most", at best) or a lower bound."""
    if metric_bound == "exact":
        return "exact"
    worse_is_larger = direction == "lower"  # for a lower-is-better metric a larger true value scores less
    true_is_larger = metric_bound == "at_least"
    return "at_most" if worse_is_larger == true_is_larger else "at_least"


def combine_bounds(bounds: list[ScoreBound]) -> ScoreBound:
    """The bound of a weighted mean of scores: one direction is kept, two directions cancel any claim."""
    kinds = {b for b in bounds if b != "exact"}
    if not kinds:
        return "exact"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def worst_repetition(metric: Metric, cap: Cap) -> float:
    """The worst sample in the metric's direction (for a direction-less metric, the one the cap looks at)."""
    contrary = {"lower": "below", "higher": "above"}.get(metric.better)
    if cap.comparison == contrary:
        raise ValueError(
            f"cap on {cap.metric}: a {metric.better}-is-better metric cannot be capped when {cap.comparison} "
            f"{cap.threshold} (the cap would punish the better values)"
        )
    worst_is_high = metric.better == "lower" or (metric.better == "none" and cap.comparison == "above")
    return max(metric.samples) if worst_is_high else min(metric.samples)


def _score_interval(curve: Curve, low: float, high: float) -> tuple[float, float]:
    a, b = curve.score(low), curve.score(high)
    return (min(a, b), max(a, b))


@dataclass
class _Input:
    """A graded metric with what interval computations need."""

    grade: MetricGrade
    curve: Curve
    metric: Metric


def _area_interval(
    inputs: list[_Input], cap_max: float | None, confidence: float
) -> tuple[tuple[float, float], float] | None:
    """The area score's interval when every input's median interval is taken at ``confidence`` (or None)."""
    lows, highs, misses = [], [], 0.0
    for item in inputs:
        ci = median_ci(item.metric.samples, confidence)
        if ci is None:
            return None
        low, high = _score_interval(item.curve, ci.low, ci.high)
        lows.append(low)
        highs.append(high)
        misses += 1.0 - ci.coverage
    weights = [i.grade.weight for i in inputs]
    low, high = float(np.average(lows, weights=weights)), float(np.average(highs, weights=weights))
    if cap_max is not None:
        low, high = min(low, cap_max), min(high, cap_max)
    return (low, high), 1.0 - misses


def _usable_interval(
    found: tuple[tuple[float, float], float] | None,
) -> tuple[tuple[float, float] | None, float | None]:
    """An interval of zero width is no interval: it is dropped (a cap fixed the score, or the data tie)."""
    if found is None or found[0][0] >= found[0][1]:
        return None, None
    return found


def _grade_area(
    area: Area, run: RunResults, profile: str, rubric: Rubric
) -> tuple[AreaGrade, list[_Input], float | None]:
    result = AreaGrade(area.key, area.title, area.weight)
    inputs: list[_Input] = []
    failed: list[str] = []
    n_values: list[int] = []
    bounds: list[ScoreBound] = []
    for rule in area.metrics:
        metric, why = lookup_metric(run, rule.key, profile)
        if metric is None and run.scenario(rule.key.split(".", 1)[0]) is None:
            result.not_in_pack.append(rule.key)
            continue
        if metric is None:
            (failed if why and why.startswith(f"scenario {FAILED}") else result.missing).append(f"{rule.key}: {why}")
            continue
        curve, _ = curve_for(rule, metric, run.targets)
        target = rule_target(rule, run.targets)
        score = curve.score(metric.median)
        ci = None if metric.ci95 is None or metric.ci95[0] == metric.ci95[1] else _score_interval(curve, *metric.ci95)
        bound = score_bound(metric.bound, "higher" if curve.good > curve.poor else "lower")  # score rises with x?
        grade_ = MetricGrade(
            key=rule.key,
            unit=metric.unit,
            better=metric.better,
            value=metric.median,
            n=metric.n,
            ci95=metric.ci95,
            ci_coverage=metric.ci_coverage,
            bound=metric.bound,
            good=curve.good,
            poor=curve.poor,
            target=target.value,
            target_from=target.source,
            weight=rule.weight,
            score=score,
            score_ci=ci,
            letter=rubric.letter(score),
            flips=ci is not None and rubric.letter(ci[0]) != rubric.letter(ci[1]),
            score_bound=bound,
            claim=rule.claim,
        )
        result.metrics.append(grade_)
        inputs.append(_Input(grade_, curve, metric))
        n_values.append(metric.n)
        bounds.append(bound)
    applied: list[Cap] = []
    for cap in (c for c in rubric.caps if c.area == area.key):
        metric, why = lookup_metric(run, cap.metric, profile)
        if metric is None and run.scenario(cap.metric.split(".", 1)[0]) is None:
            continue  # the cap's scenario is not in this run
        if metric is None:
            (failed if why and why.startswith(f"scenario {FAILED}") else result.missing).append(
                f"{cap.metric}: {why} (needed by a cap)"
            )
            continue
        n_values.append(metric.n)
        if cap.applies(worst_repetition(metric, cap)):
            applied.append(cap)
        elif metric.bound == ("at_least" if cap.comparison == "above" else "at_most"):
            bounds.append("at_most")  # the true value may still trigger the cap: the score is at best this
    if failed:
        result.status, result.letter, result.missing = FAILED, FAILED, failed + result.missing
        return result, [], None
    if result.missing or not result.metrics:
        result.status = NOT_MEASURED
        result.missing = result.missing or [f"{key}: scenario not in this run" for key in result.not_in_pack]
        return result, [], None
    weights = [g.weight for g in result.metrics]
    score = float(np.average([g.score for g in result.metrics], weights=weights))
    cap_max = min((c.max_score for c in applied), default=None)
    if cap_max is not None and score > cap_max:
        score = cap_max
        result.cap = next(c.reason for c in applied if c.max_score == cap_max)
    result.score = score
    result.letter = rubric.letter(score)
    result.min_n = min(n_values)
    result.provisional = result.min_n < MIN_N_FOR_CI
    result.score_bound = combine_bounds(bounds)
    result.score_ci, result.score_ci_coverage = _usable_interval(
        _area_interval(inputs, cap_max, 1.0 - (1.0 - CONFIDENCE) / len(inputs))
    )
    result.flips = result.score_ci is not None and rubric.letter(result.score_ci[0]) != rubric.letter(
        result.score_ci[1]
    )
    return result, inputs, cap_max


def grade(run: RunResults, profile: str, rubric: Rubric | None = None) -> Assessment:
    """Grade one profile of a run against the rubric (the packaged one by default)."""
    rubric = rubric or load_rubric()
    assessment = Assessment(run.run_id, profile, graded=False)
    if profile not in run.profiles:
        assessment.reason = f"no scenario ran under profile {profile!r}"
        return assessment
    graded: list[tuple[AreaGrade, list[_Input], float | None]] = []
    for area in rubric.areas:
        found = _grade_area(area, run, profile, rubric)
        assessment.areas.append(found[0])
        if found[0].measured:
            graded.append(found)
    if not graded:
        assessment.reason = "no area could be measured: every area misses a metric or failed"
        return assessment
    counted = [a for a in assessment.areas if a.measured or a.failed]
    weights = [a.weight for a in counted]
    assessment.graded = True
    assessment.score = float(np.average([a.score if a.measured else 0.0 for a in counted], weights=weights))
    assessment.letter = rubric.letter(assessment.score)
    assessment.min_n = min(a.min_n for a, _, _ in graded)
    assessment.provisional = any(a.provisional for a, _, _ in graded)
    assessment.score_bound = combine_bounds([a.score_bound for a, _, _ in graded])
    k = sum(len(inputs) for _, inputs, _ in graded)
    level = 1.0 - (1.0 - CONFIDENCE) / k
    intervals = [_area_interval(inputs, cap_max, level) for _, inputs, cap_max in graded]
    if all(i is not None for i in intervals):
        by_key = {a.key: i for (a, _, _), i in zip(graded, intervals, strict=True)}
        lows = [by_key[a.key][0][0] if a.measured else 0.0 for a in counted]  # type: ignore[index]
        highs = [by_key[a.key][0][1] if a.measured else 0.0 for a in counted]  # type: ignore[index]
        coverage = 1.0 - sum(1.0 - i[1] for i in intervals)  # type: ignore[index]
        found = ((float(np.average(lows, weights=weights)), float(np.average(highs, weights=weights))), coverage)
        assessment.score_ci, assessment.score_ci_coverage = _usable_interval(found)
    if assessment.score_ci is not None:
        assessment.flips = rubric.letter(assessment.score_ci[0]) != rubric.letter(assessment.score_ci[1])
    return assessment


def min_n_for_score_interval(assessment: Assessment) -> int:
    """The n every graded metric needs for the overall score to have a simultaneous 95 % interval."""
    k = sum(len(a.metrics) for a in assessment.areas if a.measured)
    return min_n_for(1.0 - (1.0 - CONFIDENCE) / max(k, 1))


def grade_run(run: RunResults, rubric: Rubric | None = None) -> dict[str, Assessment]:
    """Grade every profile present in the run."""
    rubric = rubric or load_rubric()
    return {profile: grade(run, profile, rubric) for profile in profiles(run)}


def compare(assessments: dict[str, Assessment], rubric: Rubric | None = None) -> Comparison | None:
    """Score every graded profile on the areas all of them measured (None with fewer than two profiles)."""
    rubric = rubric or load_rubric()
    graded = {p: a for p, a in assessments.items() if a.graded}
    if len(graded) < 2:
        return None
    first = next(iter(graded.values()))
    common = [a.key for a in first.areas if all(g.area(a.key).measured for g in graded.values())]
    left_out = [a.title for a in first.areas if a.key not in common]
    scores, letters, provisional, qualifiers = {}, {}, {}, {}
    for profile, assessment in graded.items():
        areas = [assessment.area(k) for k in common]
        if not areas:
            continue
        scores[profile] = float(np.average([a.score for a in areas], weights=[a.weight for a in areas]))
        letters[profile] = rubric.letter(scores[profile])
        provisional[profile] = any(a.provisional for a in areas)
        qualifiers[profile] = QUALIFIERS[combine_bounds([a.score_bound for a in areas])]
    return Comparison(common, left_out, scores, letters, provisional, qualifiers)
