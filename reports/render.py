"""Render a results file as a self-contained HTML report or a Markdown summary (Jinja2, autoescaped)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.results import RunResults
from reports import charts, findings, recommendations
from reports.grading import Assessment, grade_run, lookup_metric
from reports.rubric import Rubric
from reports.rubric import load as load_rubric

TEMPLATES = Path(__file__).with_name("templates")
FORMATS = ("html", "md")
SCALABILITY_TARGETS = (
    # component, metric, target, unit, scaling strategy (the original's table)
    ("Requests per Second", "capacity.max_sustainable_rps", 500.0, "req/s", "Load balancing"),
    ("Concurrent Users (USL peak concurrency)", "capacity.usl_peak_concurrency", 1000.0, "users", "Horizontal pods"),
    ("Properties Analyzed", "capacity.properties_assessed_per_hour", 10000.0, "/hour", "Worker queues"),
    ("Scaling efficiency, 2 processes", "horizontal_scaling.scaling_efficiency_2", 0.9, "", "Horizontal pods"),
)


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
    generated_at: str

    @property
    def compared(self) -> bool:
        return sum(a.graded for a in self.assessments.values()) >= 2


def build(run: RunResults, rubric: Rubric | None = None, *, with_charts: bool = True) -> Report:
    """Grade, find bottlenecks, recommend and draw charts for a run."""
    rubric = rubric or load_rubric()
    assessments = grade_run(run, rubric)
    graded = [a for a in assessments.values() if a.graded]
    headline = next((a for a in graded if a.profile == "optimized"), graded[0] if graded else None)
    scalability = []
    for component, key, target, unit, strategy in SCALABILITY_TARGETS:
        row = {"component": component, "key": key, "target": target, "unit": unit, "strategy": strategy, "values": {}}
        for profile in assessments:
            metric, _ = lookup_metric(run, key, profile)
            if metric is not None:
                row["values"][profile] = metric
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
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


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
    env.filters.update(fmt=fmt, percent=percent, md=md_escape)
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
