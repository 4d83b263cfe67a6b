"""The history dashboard: one self-contained HTML page over a series of runs (as `asv publish` writes).

Rendered from the `harness.history` table of results files plus the rubric: a trend chart per
scenario.metric (median per profile with its 95 % CI band, change points marked with their commit
ranges), the change points as a table, the current values against their targets, and every run with a
link to its report (`report.html` beside its results file, else the results file; relative links).
Charts are inline SVG (`reports.charts.history_trend`); the page loads nothing else.

Charts, change points and current values use the runs whose scenario completed, as `find_changes` does.
A metric's target is `reports.grading.target_for`'s, from the run that gave the current value: the
pack's (`[targets]`), else the rubric's `good` control point; a metric with neither has none.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.history import SERIES_KEY, ChangePoint, RunInfo
from harness.results import Metric
from reports import charts
from reports.grading import Target, target_for
from reports.render import TEMPLATES, figure, fmt, value_text
from reports.rubric import Rubric
from reports.rubric import load as load_rubric

PAGE_NAME = "history.html"


@dataclass(frozen=True)
class Trend:
    """One metric's chart: ``key`` is ``scenario.metric``."""

    key: str
    anchor: str
    svg: Markup
    profiles: list[str]
    changes: list[ChangePoint]
    runs: int
    left_out: int
    has_interval: bool


@dataclass(frozen=True)
class ChangeRow:
    change: ChangePoint
    unit: str
    kind: str  # "regression", "improvement" or "shift" (no direction)
    anchor: str


@dataclass(frozen=True)
class CurrentRow:
    """The latest complete value of one series against its target."""

    key: str
    profile: str
    metric: Metric
    run_id: str
    target: Target | None
    verdict: str
    last_change: ChangePoint | None
    anchor: str


@dataclass(frozen=True)
class RunRow:
    run: RunInfo
    link: str
    is_report: bool


@dataclass(frozen=True)
class HistoryPage:
    """Everything the template needs."""

    trends: list[Trend]
    changes: list[ChangeRow]
    current: list[CurrentRow]
    runs: list[RunRow]
    generated_at: str


def anchor(key: str) -> str:
    """An HTML id for a scenario.metric."""
    return "m-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def link(target: Path, page_dir: Path) -> str:
    """A URL to ``target`` from a page in ``page_dir``: relative when possible, else a file URI."""
    try:
        return quote(Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix())
    except ValueError:  # another drive (Windows)
        return target.resolve().as_uri()


def verdict(value: float, bound: str, better: str, target: float | None) -> str:
    """ "meets", "misses", "undecided (bound)" or "-" (no target or no direction) for a median."""
    if target is None or better not in ("lower", "higher"):
        return "-"
    meets = value <= target if better == "lower" else value >= target
    # the true value lies beyond a bound: towards worse, only a miss is sure; towards better, only a meet
    towards_worse = (bound == "at_least") == (better == "lower")
    if bound != "exact" and meets == towards_worse:
        return "undecided (bound)"
    return "meets" if meets else "misses"


def change_kind(change: ChangePoint, better: str) -> str:
    if better not in ("lower", "higher") or change.median_after == change.median_before:
        return "shift"
    worse = (
        change.median_after > change.median_before if better == "lower" else change.median_after < change.median_before
    )
    return "regression" if worse else "improvement"


def _metric(row: pd.Series) -> Metric:
    ci = None if math.isnan(row["ci_low"]) else (float(row["ci_low"]), float(row["ci_high"]))
    coverage = None if math.isnan(row["ci_coverage"]) else float(row["ci_coverage"])
    return Metric(str(row["unit"]), row["better"], [], int(row["n"]), float(row["median"]), ci, coverage, row["bound"])


def build_page(
    frame: pd.DataFrame,
    runs: list[RunInfo],
    changes: list[ChangePoint],
    page_dir: Path,
    rubric: Rubric | None = None,
) -> HistoryPage:
    """Charts, tables and links for a history (``frame`` and ``runs`` from `harness.history.read_history`)."""
    rubric = rubric or load_rubric()
    frame = frame.assign(key=frame["scenario"] + "." + frame["metric"])
    usable = frame[frame["status"] == "complete"]
    ticks = {r.index: r.git_commit[:7] or r.run_id for r in runs}
    by_index = {r.index: r for r in runs}
    trends, current, change_rows = [], [], []
    for key, rows in frame.groupby("key", sort=True):
        key = str(key)
        complete = usable[usable["key"] == key]
        own = [c for c in changes if f"{c.scenario}.{c.metric}" == key]
        svg = charts.history_trend(complete, own, ticks, key)
        if svg is not None:
            trends.append(
                Trend(
                    key=key,
                    anchor=anchor(key),
                    svg=Markup(svg),
                    profiles=sorted(complete["profile"].unique()),
                    changes=own,
                    runs=complete["run_id"].nunique(),
                    left_out=len(rows) - len(complete),
                    has_interval=bool(complete["ci_low"].notna().any()),
                )
            )
        for (_, profile, _), series in complete.groupby(SERIES_KEY, sort=True):
            last = series.sort_values("run_index").iloc[-1]
            target = target_for(key, by_index[int(last["run_index"])].targets, rubric, str(last["better"]))
            better = target.direction if target is not None else str(last["better"])
            mine = [c for c in own if c.profile == profile]
            current.append(
                CurrentRow(
                    key=key,
                    profile=str(profile),
                    metric=_metric(last),
                    run_id=str(last["run_id"]),
                    target=target,
                    verdict=verdict(
                        float(last["median"]), str(last["bound"]), better, None if target is None else target.value
                    ),
                    last_change=max(mine, key=lambda c: c.index) if mine else None,
                    anchor=anchor(key),
                )
            )
            for c in mine:
                change_rows.append(ChangeRow(c, str(last["unit"]), change_kind(c, better), anchor(key)))
    run_rows = []
    for run in runs:
        report = run.results_file.parent / "report.html"
        run_rows.append(RunRow(run, link(report if report.exists() else run.results_file, page_dir), report.exists()))
    change_rows.sort(key=lambda r: (r.change.index, r.change.scenario, r.change.metric, r.change.profile))
    return HistoryPage(
        trends=trends,
        changes=change_rows,
        current=current,
        runs=run_rows,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def render_page(page: HistoryPage) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(fmt=fmt, value=value_text, figure=figure)
    return env.get_template("history.html.j2").render(p=page)


def write_history_page(
    frame: pd.DataFrame,
    runs: list[RunInfo],
    changes: list[ChangePoint],
    output: Path,
    rubric: Rubric | None = None,
) -> Path:
    """Render the history page into ``output`` (a file path) and return it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_page(build_page(frame, runs, changes, output.parent, rubric)))
    return output
