"""Recommendations with their estimated gain, measured gain and the original assessment's claimed impact.

* Estimated gain: the profile regraded with the recommendation's metrics at their targets (each metric's
  one target, `reports.grading.target_for`: the pack's, else the rubric's): how many points the area and
  the overall score would gain.
* Measured gain: where both profiles ran, the relative change of the claim's metric from baseline to
  optimized (ratio of medians), with a distribution-free interval of at least 95 % coverage built from
  the two medians' order-statistic intervals (`harness.stats.median_ratio_ci`; n >= 7 per profile).
  The optimized profile applies every fix at once, so a measured change belongs to the profile, not to
  one fix alone; the report says so.
* Claimed impact: the figure the original assessment promised, and whether the measurement bears it out.
  A verdict is drawn only from an interval that exists: without one it is "n too small"; a figure that
  is only a bound on either side gives no verdict; a change in the opposite direction is "not
  reproduced", never "smaller than claimed".
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

from harness.results import Metric, RunResults
from harness.stats import CONFIDENCE, median_ratio_ci, min_n_for
from reports.grading import Assessment, grade, lookup_metric
from reports.rubric import Rubric

MIN_N_FOR_CHANGE = min_n_for(CONFIDENCE**0.5)  # per profile: two intervals at sqrt(0.95) hold together >= 95 %
N_TOO_SMALL = "n too small"


@dataclass(frozen=True)
class Remedy:
    key: str
    title: str
    area: str
    metrics: tuple[str, ...]  # set to target for the estimated gain
    claim: str | None
    claim_metric: str | None
    claimed_change: float | None  # relative, -0.15 = 15 % lower


CATALOGUE: tuple[Remedy, ...] = (
    Remedy(
        "async-cpu-monitoring",
        "Implement async CPU monitoring (non-blocking CPU sampling off the event loop)",
        "cpu",
        ("health_overhead.event_loop_lag_max_ms", "health_overhead.cpu_overhead_percent"),
        "15% CPU reduction",
        "api_latency.service_cpu_percent",
        -0.15,
    ),
    Remedy(
        "query-optimization",
        "Add query plan analysis and optimize the dashboard queries (concurrent, indexed)",
        "database",
        ("db_query.query_mean_ms", "db_query.dashboard_query_p95_ms"),
        "30% query performance improvement",
        "db_query.query_mean_ms",
        -0.30,
    ),
    Remedy(
        "multi-level-caching",
        "Implement multi-level caching (L1 in-process LRU, L2 Redis)",
        "caching",
        ("cache_hit_ratio.hit_ratio_overall", "cache_hit_ratio.cached_latency_p95_ms"),
        "50% response time improvement",
        "api_latency.latency_p95_ms",
        -0.50,
    ),
    Remedy(
        "backup-io-throttling",
        "Implement I/O throttling for backup operations",
        "io",
        ("backup_time.live_p95_backup_ratio",),
        "I/O throttling for backup operations (no figure claimed)",
        "backup_time.live_p95_backup_ratio",
        None,
    ),
    Remedy(
        "parallel-health-checks",
        "Run health checks concurrently every 15 s with cached CPU values",
        "monitoring",
        ("health_overhead.health_round_ms", "health_overhead.health_interval_s"),
        "Health check frequency 15s (no figure claimed)",
        "health_overhead.health_round_ms",
        None,
    ),
)


@dataclass
class Gain:
    """Scores before and after setting metrics to their targets (points on 0-100)."""

    area_before: float | None
    area_after: float | None
    overall_before: float | None
    overall_after: float | None

    @property
    def overall_points(self) -> float:
        if self.overall_before is None or self.overall_after is None:
            return 0.0
        return self.overall_after - self.overall_before


@dataclass
class Change:
    """Measured relative change of a metric from baseline to optimized, with its interval when one exists."""

    metric: str
    unit: str
    baseline: float
    optimized: float
    change: float
    ci: tuple[float, float] | None  # relative change; None: n too small (or a median interval reaches 0)
    n: tuple[int, int]
    coverage: float | None = None  # a lower bound on the interval's coverage
    bounds: tuple[str, str] = ("exact", "exact")  # each side's figure: exact / at_least / at_most


@dataclass
class Recommendation:
    remedy: Remedy
    estimated: dict[str, Gain] = field(default_factory=dict)  # per profile below target
    measured: Change | None = None
    verdict: str | None = None


@dataclass
class Opportunity:
    profile: str
    metric: str
    area: str
    value: float
    target: float
    unit: str
    gain: Gain
    bound: str = "exact"  # the current value is exact, at least or at most this


def with_values(run: RunResults, profile: str, values: dict[str, float]) -> RunResults:
    """A copy of the run with metrics of ``profile`` replaced by single values (what-if grading)."""
    copied = copy.copy(run)  # only metric dicts change: share everything else (timeseries, details)
    copied.scenarios = [dataclasses.replace(s, metrics=dict(s.metrics)) for s in run.scenarios]
    for key, value in values.items():
        scenario_name, metric_name = key.split(".", 1)
        for scenario in copied.scenarios:
            if scenario.name == scenario_name and scenario.profile == profile and metric_name in scenario.metrics:
                old = scenario.metrics[metric_name]
                scenario.metrics[metric_name] = Metric.single(value, unit=old.unit, better=old.better)
    return copied


def estimated_gain(run: RunResults, assessment: Assessment, keys: tuple[str, ...], area: str, rubric: Rubric) -> Gain:
    """Regrade ``assessment.profile`` with ``keys`` at their targets (only those not at target yet)."""
    targets = {}
    for key in keys:
        grade_ = assessment.metric(key)
        if grade_ is not None and not grade_.meets_target:
            targets[key] = grade_.target
    before_area = assessment.area(area)
    if not targets:
        return Gain(before_area.score, before_area.score, assessment.score, assessment.score)
    after = grade(with_values(run, assessment.profile, targets), assessment.profile, rubric)
    return Gain(before_area.score, after.area(area).score, assessment.score, after.score)


def measured_change(run: RunResults, key: str) -> Change | None:
    """Optimized vs baseline change of metric ``key`` (ratio of medians - 1), with its interval if it exists."""
    base, _ = lookup_metric(run, key, "baseline")
    opt, _ = lookup_metric(run, key, "optimized")
    if base is None or opt is None or base.median == 0:
        return None
    ratio = median_ratio_ci(base.samples, opt.samples)
    return Change(
        key,
        base.unit,
        base.median,
        opt.median,
        opt.median / base.median - 1.0,
        None if ratio is None else (ratio.low - 1.0, ratio.high - 1.0),
        (base.n, opt.n),
        None if ratio is None else ratio.coverage,
        (base.bound, opt.bound),
    )


def verdict(change: Change, claimed: float | None) -> str:
    """Does the measured change bear out the claimed relative change? Only an existing interval decides."""
    if claimed is None:
        return "no figure was claimed"
    if change.bounds != ("exact", "exact"):
        return "no verdict: a figure is only a bound (at least / at most), so the change is not known"
    if change.ci is None:
        return (
            f"{N_TOO_SMALL}: no 95 % interval of the change (n = {change.n[0]} and {change.n[1]}; "
            f"{MIN_N_FOR_CHANGE} per profile needed), so no verdict"
        )
    low, high = change.ci
    reduction = claimed < 0
    if (low > 0) if reduction else (high < 0):
        return "not reproduced: the change went the other way"
    word = "reduction" if reduction else "increase"
    if (high <= claimed) if reduction else (low >= claimed):
        return f"claim met: the measured {word} is at least the claimed one"
    if (low > claimed) if reduction else (high < claimed):
        return f"claim not met: the measured {word} is smaller than claimed"
    return "inconclusive: the claimed change lies inside the measured 95 % interval"


def recommend(run: RunResults, assessments: dict[str, Assessment], rubric: Rubric) -> list[Recommendation]:
    """The catalogue's recommendations that the run measured, with estimated and measured gains."""
    result = []
    for remedy in CATALOGUE:
        rec = Recommendation(remedy)
        for profile, assessment in assessments.items():
            if assessment.graded and assessment.area(remedy.area).measured:
                rec.estimated[profile] = estimated_gain(run, assessment, remedy.metrics, remedy.area, rubric)
        if remedy.claim_metric and "baseline" in assessments and "optimized" in assessments:
            rec.measured = measured_change(run, remedy.claim_metric)
            if rec.measured is not None:
                rec.verdict = verdict(rec.measured, remedy.claimed_change)
        if rec.estimated or rec.measured:
            result.append(rec)
    return result


def opportunities(run: RunResults, assessment: Assessment, rubric: Rubric, limit: int = 8) -> list[Opportunity]:
    """Metrics below target in one profile, ranked by the overall points gained at target."""
    found = []
    for area in assessment.areas:
        if not area.measured:
            continue
        for grade_ in area.metrics:
            if grade_.meets_target:
                continue
            gain = estimated_gain(run, assessment, (grade_.key,), area.key, rubric)
            found.append(
                Opportunity(
                    assessment.profile,
                    grade_.key,
                    area.title,
                    grade_.value,
                    grade_.target,
                    grade_.unit,
                    gain,
                    grade_.bound,
                )
            )
    found.sort(key=lambda o: -o.gain.overall_points)
    return found[:limit]
