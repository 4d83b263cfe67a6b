"""Grading: a results file -> metric, area and overall scores with letters and bootstrap 95 % CIs.

Per profile (baseline / optimized ...): each rubric metric is scored at its median; the bootstrap
resamples every metric's samples (its repetitions), rescoring metric, area and overall score each time,
so each score carries a 95 % percentile interval. A grade whose CI spans two letters is marked
``flips``. An area with a missing metric (or a failed / invalid scenario) is "not measured"; the overall
score is the weighted mean of the measured areas only, and the missing areas are named. Caps limit an
area's score (decided on the median) whatever its mean. An invalid run is not graded at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.results import Metric, RunResults, ScenarioResult
from reports.rubric import NOT_MEASURED, Area, MetricRule, Rubric
from reports.rubric import load as load_rubric
from reports.scoring import Curve, ScoringError

BOOTSTRAP_RESAMPLES = 2000
USABLE_STATUSES = ("complete", "incomplete")
PROFILE_ORDER = ("baseline", "optimized")


@dataclass
class MetricGrade:
    """One metric's measured value, its effective control points, score and letter."""

    key: str
    unit: str
    better: str
    value: float
    n: int
    ci95: tuple[float, float]
    good: float
    poor: float
    target_from: str  # "rubric" or "pack"
    weight: float
    score: float
    score_ci: tuple[float, float]
    letter: str
    flips: bool
    claim: str | None = None


@dataclass
class AreaGrade:
    key: str
    title: str
    weight: float
    measured: bool
    missing: list[str] = field(default_factory=list)  # "scenario.metric: why"
    metrics: list[MetricGrade] = field(default_factory=list)
    score: float | None = None
    score_ci: tuple[float, float] | None = None
    letter: str = NOT_MEASURED
    flips: bool = False
    cap: str | None = None  # the reason of the cap that limited the score


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
    letter: str = "not graded"
    flips: bool = False
    min_n: int = 0

    @property
    def not_measured(self) -> list[AreaGrade]:
        return [a for a in self.areas if not a.measured]

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


def curve_for(rule: MetricRule, metric: Metric, targets: dict[str, float]) -> tuple[Curve, str]:
    """The scoring curve of a metric: rubric control points, moved to the pack target if one is given."""
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


def _replicates(metric: Metric, rng: np.random.Generator, resamples: int) -> np.ndarray:
    samples = np.asarray(metric.samples, dtype=float)
    if samples.size < 2:
        return np.full(resamples, metric.median)
    idx = rng.integers(0, samples.size, size=(resamples, samples.size))
    return np.median(samples[idx], axis=1)


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(replicates, [0.025, 0.975])
    return float(low), float(high)


def _grade_area(
    area: Area, run: RunResults, profile: str, rubric: Rubric, rng: np.random.Generator, resamples: int
) -> tuple[AreaGrade, np.ndarray | None]:
    result = AreaGrade(area.key, area.title, area.weight, measured=True)
    replicates: list[np.ndarray] = []
    for rule in area.metrics:
        metric, why = lookup_metric(run, rule.key, profile)
        if metric is None:
            result.missing.append(f"{rule.key}: {why}")
            continue
        curve, source = curve_for(rule, metric, run.targets)
        reps = curve.scores(_replicates(metric, rng, resamples))
        score = curve.score(metric.median)
        ci = _interval(reps)
        replicates.append(reps)
        result.metrics.append(
            MetricGrade(
                key=rule.key,
                unit=metric.unit,
                better=metric.better,
                value=metric.median,
                n=metric.n,
                ci95=tuple(metric.ci95),  # type: ignore[arg-type]
                good=curve.good,
                poor=curve.poor,
                target_from=source,
                weight=rule.weight,
                score=score,
                score_ci=ci,
                letter=rubric.letter(score),
                flips=rubric.letter(ci[0]) != rubric.letter(ci[1]),
                claim=rule.claim,
            )
        )
    caps = [c for c in rubric.caps if c.area == area.key]
    cap_values = {}
    for cap in caps:
        metric, why = lookup_metric(run, cap.metric, profile)
        if metric is None:
            result.missing.append(f"{cap.metric}: {why} (needed by a cap)")
        else:
            cap_values[cap] = metric.median
    if result.missing:
        result.measured = False
        return result, None
    weights = np.array([g.weight for g in result.metrics])
    area_reps = np.average(np.vstack(replicates), axis=0, weights=weights)
    score = float(np.average([g.score for g in result.metrics], weights=weights))
    for cap, value in cap_values.items():
        if cap.applies(value) and score > cap.max_score:
            score = cap.max_score
            result.cap = cap.reason
        if cap.applies(value):
            area_reps = np.minimum(area_reps, cap.max_score)
    result.score = score
    result.score_ci = _interval(area_reps)
    result.letter = rubric.letter(score)
    result.flips = rubric.letter(result.score_ci[0]) != rubric.letter(result.score_ci[1])
    return result, area_reps


def grade(
    run: RunResults,
    profile: str,
    rubric: Rubric | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Assessment:
    """Grade one profile of a run against the rubric (the packaged one by default)."""
    rubric = rubric or load_rubric()
    assessment = Assessment(run.run_id, profile, graded=False)
    if run.status == "invalid":
        assessment.reason = f"the run is invalid: {run.status_reason or 'no reason given'}"
        return assessment
    if profile not in run.profiles:
        assessment.reason = f"no scenario ran under profile {profile!r}"
        return assessment
    rng = np.random.default_rng(seed)
    area_reps: list[np.ndarray] = []
    for area in rubric.areas:
        grade_, reps = _grade_area(area, run, profile, rubric, rng, resamples)
        assessment.areas.append(grade_)
        if reps is not None:
            area_reps.append(reps)
    measured = [a for a in assessment.areas if a.measured]
    if not measured:
        assessment.reason = "no area could be measured: every area misses a metric"
        return assessment
    weights = np.array([a.weight for a in measured])
    assessment.graded = True
    assessment.score = float(np.average([a.score for a in measured], weights=weights))
    assessment.score_ci = _interval(np.average(np.vstack(area_reps), axis=0, weights=weights))
    assessment.letter = rubric.letter(assessment.score)
    assessment.flips = rubric.letter(assessment.score_ci[0]) != rubric.letter(assessment.score_ci[1])
    assessment.min_n = min(g.n for a in measured for g in a.metrics)
    return assessment


def grade_run(run: RunResults, rubric: Rubric | None = None) -> dict[str, Assessment]:
    """Grade every profile present in the run."""
    rubric = rubric or load_rubric()
    return {profile: grade(run, profile, rubric) for profile in profiles(run)}
