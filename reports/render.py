"""Render a results file as a self-contained HTML report or a Markdown summary (Jinja2, autoescaped)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.results import Metric, RunResults
from harness.stats import MIN_N_FOR_CI
from reports import capacity_plan, charts, findings, recommendations
from reports.grading import (
    USABLE_STATUSES,
    Assessment,
    Comparison,
    MetricGrade,
    Target,
    compare,
    grade_run,
    lookup_metric,
    min_n_for_score_interval,
    target_for,
)
from reports.rubric import Rubric
from reports.rubric import load as load_rubric

TEMPLATES = Path(__file__).with_name("templates")
FORMATS = ("html", "md")
SCALABILITY_ROWS = (
    # component, metric, unit when not measured, scaling strategy (the original's table); the target is the one
    # target (`grading.target_for`: the pack's, else the rubric's)
    ("Requests per Second", "capacity.max_sustainable_rps", "req/s", "Load balancing"),
    ("Concurrent Users (USL peak concurrency)", "capacity.usl_peak_concurrency", "users", "Horizontal pods"),
    ("Properties Analyzed", "capacity.properties_assessed_per_hour", "/hour", "Worker queues"),
    ("Scaling efficiency, 2 processes", "horizontal_scaling.scaling_efficiency_2", "", "Horizontal pods"),
)
TARGET_SIGNS = {"lower": "≤ ", "higher": "≥ "}  # a direction-less (or unmeasured) metric's target: the figure


@dataclass
class Report:
    """Everything a template needs, computed once."""

    run: RunResults
    rubric: Rubric
    assessments: dict[str, Assessment]
    headline: Assessment | None
    findings: dict[str, list[findings.Finding]]
    recommendations: list[recommendations.Recommendation]
    opportunities: dict[str, list[recommendations.Opportunity]]
    charts: dict[str, str]
    scalability: list[dict[str, Any]]
    allocation_sites: dict[str, dict[str, Any]]  # profile -> memory_footprint's details["allocation_sites"]
    generated_at: str
    comparison: Comparison | None = None
    plans: dict[str, capacity_plan.Plan] | None = None  # per profile: reports.capacity_plan

    @property
    def compared(self) -> bool:
        return sum(a.graded for a in self.assessments.values()) >= 2

    @property
    def provisional(self) -> list[str]:
        """Graded profiles whose overall grade rests on a metric with n < 6."""
        return [p for p, a in self.assessments.items() if a.graded and a.provisional]

    @property
    def ungraded(self) -> list[tuple[str, str, str, str]]:
        """(scenario, profile, status, first reason) of every scenario run the grades leave out (invalid,
        failed): their areas read "not measured" or "failed", and this says why."""
        out = []
        for s in self.run.scenarios:
            if s.status not in USABLE_STATUSES:
                reasons = (s.reason or "no reason given").split("; ")
                more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
                out.append((s.name, s.profile, s.status, reasons[0] + more))
        return out

    def target(self, key: str, better: str = "none") -> Target | None:
        """The one target of ``scenario.metric`` in this report (`grading.target_for`)."""
        return target_for(key, self.run.targets, self.rubric, better)

    def load_note(self, key: str) -> str:
        """ " (at R req/s)" when ``scenario.metric``'s scenario ran at one open-model rate (its `rate` or
        `rate_rps` parameter): a latency or memory figure means little without the load it was taken at."""
        scenario = next((s for s in self.run.scenarios if s.name == key.split(".", 1)[0]), None)
        params = scenario.params if scenario is not None else {}
        rate = params.get("rate", params.get("rate_rps"))
        return f" (at {rate:g} req/s)" if isinstance(rate, (int, float)) and not isinstance(rate, bool) else ""

    def figure(self, profile: str, key: str) -> str:
        """``scenario.metric`` of ``profile`` as value, bound, interval and n (for a finding's evidence)."""
        metric, why = lookup_metric(self.run, key, profile)
        return figure(metric) if metric is not None else f"not measured ({why})"


def build(run: RunResults, rubric: Rubric | None = None, *, with_charts: bool = True) -> Report:
    """Grade, find bottlenecks, recommend and draw charts for a run."""
    rubric = rubric or load_rubric()
    assessments = grade_run(run, rubric)
    graded = [a for a in assessments.values() if a.graded]
    headline = next((a for a in graded if a.profile == "optimized"), graded[0] if graded else None)
    scalability = []
    for component, key, unit, strategy in SCALABILITY_ROWS:
        row: dict[str, Any] = {"component": component, "key": key, "unit": unit, "strategy": strategy, "values": {}}
        for profile in assessments:
            metric, _ = lookup_metric(run, key, profile)
            if metric is not None:
                row["values"][profile] = metric
        measured = next(iter(row["values"].values()), None)
        better = measured.better if measured is not None else "none"
        row["unit"] = measured.unit if measured is not None else unit  # the results' unit, as elsewhere
        row["target"] = target_for(key, run.targets, rubric, better)
        scalability.append(row)
    return Report(
        run=run,
        rubric=rubric,
        assessments=assessments,
        headline=headline,
        findings={p: findings.find(run, a) for p, a in assessments.items()},
        recommendations=recommendations.recommend(run, assessments, rubric),
        opportunities={p: recommendations.opportunities(run, a, rubric) for p, a in assessments.items() if a.graded},
        charts={k: Markup(v) for k, v in charts.all_charts(run, assessments).items()}
        if with_charts and headline
        else {},
        scalability=scalability,
        allocation_sites={p: sites for p in assessments if (sites := findings.allocation_sites(run, p))},
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        comparison=compare(assessments, rubric),
        plans=capacity_plan.plans(run),
    )


def target_text(target: Target | None, unit: str = "", *, source: bool = False) -> str:
    """A target as printed everywhere in a report: "≤ 100 ms", with "(pack)" / "(rubric)" if ``source``."""
    if target is None:
        return "-"
    text = TARGET_SIGNS.get(target.direction, "") + fmt(target.value, unit)
    return f"{text} ({target.source})" if source else text


def grade_target(g: MetricGrade, *, source: bool = False) -> str:
    """The target of a graded metric, as `target_text` prints it."""
    return target_text(Target(g.key, g.target, g.direction, g.target_from), g.unit, source=source)


def fmt(value: float | None, unit: str = "") -> str:
    """A measured value with sensible precision and its unit."""
    if value is None:
        return "-"
    if unit == "fraction":
        return f"{value:.2%}" if abs(value) < 0.1 else f"{value:.1%}"
    magnitude = abs(value)
    text = (
        f"{value:,.0f}"
        if magnitude >= 100
        else f"{value:.1f}"
        if magnitude >= 10
        else f"{value:.2f}"
        if magnitude >= 0.1
        else f"{value:.3g}"
    )
    return f"{text} {unit}".strip() if unit not in ("", "count", "bool", "ratio") else text


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


BOUND_SIGNS = {"exact": "", "at_least": "≥ ", "at_most": "≤ "}


def value_text(value: float | None, unit: str = "", bound: str = "exact") -> str:
    """A value with its unit, prefixed "≥" when it is only a lower bound and "≤" when an upper bound."""
    return BOUND_SIGNS.get(bound, "") + fmt(value, unit)


def interval_text(m: Metric | MetricGrade, unit: str | None = None) -> str:
    """The interval and n of a figure: "95 % CI lo–hi, n=7", "n=3, n too small" or "n=8, tied at x"."""
    unit = m.unit if unit is None else unit
    if m.ci95 is None:
        return f"n={m.n}, n too small (< {MIN_N_FOR_CI}) for an interval"
    low, high = m.ci95
    if low == high:
        return f"n={m.n}, no interval: the central repetitions are tied at {fmt(low, unit)}"
    coverage = f"{m.ci_coverage:.1%}" if m.ci_coverage is not None else "95 %"
    return f"{coverage} CI {fmt(low, unit)}–{fmt(high, unit)}, n={m.n}"


def figure(m: Metric | MetricGrade, unit: str | None = None) -> str:
    """Median (or the graded value), its bound sign, interval and n in one phrase."""
    value = m.value if isinstance(m, MetricGrade) else m.median
    return f"{value_text(value, m.unit if unit is None else unit, m.bound)} ({interval_text(m, unit)})"


def score_range(ci: tuple[float, float] | None, coverage: float | None = None) -> str:
    """A score interval as printed, never of zero width: empty when there is none."""
    if ci is None:
        return ""
    low, high = round(ci[0]), round(ci[1])
    level = f"≥ {coverage:.0%}" if coverage is not None else "95 %"
    if low == high:
        return f"{level} CI within 1 point of {low}"
    return f"{level} CI {low}–{high}"


def grade_words(grade: Any) -> str:
    """The qualifiers of an area, metric or overall grade: "at best", "at least", "provisional"."""
    words = [getattr(grade, "qualifier", "")]
    if getattr(grade, "provisional", False):
        words.append("provisional")
    return ", ".join(w for w in words if w)


def md_escape(value: Any) -> str:
    """Markdown-safe text: HTML-escaped, table pipes and backticks neutralised, one line."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("|", "\\|").replace("`", "'")
    return re.sub(r"\s+", " ", text)


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html.j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fmt=fmt,
        percent=percent,
        md=md_escape,
        figure=figure,
        interval=interval_text,
        value=value_text,
        score_range=score_range,
        grade_words=grade_words,
        target=target_text,
        grade_target=grade_target,
    )
    env.globals.update(MIN_N_FOR_CI=MIN_N_FOR_CI, score_interval_n=min_n_for_score_interval)
    return env


def render_html(report: Report) -> str:
    return _environment(autoescape=True).get_template("report.html.j2").render(r=report)


def render_markdown(report: Report) -> str:
    return _environment(autoescape=False).get_template("report.md.j2").render(r=report)


def write_report(run: RunResults, output: Path | str, fmt_: str = "html") -> Path:
    """Render ``run`` as ``fmt_`` ("html" or "md") into ``output``; return the path written."""
    if fmt_ not in FORMATS:
        raise ValueError(f"report format must be one of {FORMATS}, not {fmt_!r}")
    report = build(run, with_charts=fmt_ == "html")
    text = render_html(report) if fmt_ == "html" else render_markdown(report)
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def default_output(results_path: Path | str, fmt_: str) -> Path:
    """``report.html`` / ``report.md`` in the run directory of a results file."""
    source = Path(results_path)
    return (source if source.is_dir() else source.parent) / f"report.{fmt_}"
