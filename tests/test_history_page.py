"""The history page (reports/history_page.py): change points with their commit ranges, current values
against targets, links to each run's report, the CLI writing it, and the page in headless Chromium
(no console messages, no network requests, every metric's chart drawn)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import test_reports_browser as browser
from reports_fixtures import build_run, write_run
from typer.testing import CliRunner

from harness.cli import app
from harness.history import find_changes, read_history
from harness.results import Metric
from reports.history_page import HistoryPage, build_page, render_page, verdict

RUNS = 12
STEP_AT = 6  # optimized api_latency p95 is 25 % slower from this run on
KEEP = {
    ("api_latency", "latency_p95_ms"),
    ("capacity", "max_sustainable_rps"),
    ("memory_footprint", "rss_steady_mb"),
}
chromium = browser.chromium  # the Chromium fixture of the report test


def _commit(i: int) -> str:
    return f"{i:02d}" + "ab" * 19


def _history(root: Path, with_report: tuple[int, ...] = (0, 3)) -> Path:
    """``RUNS`` small results files under ``root/runs`` (three metrics, two profiles, n = 6, 1 % noise)
    with a step in optimized api_latency p95; a stand-in report.html beside the runs in ``with_report``."""
    rng = np.random.default_rng(5)
    for i in range(RUNS):
        run = build_run(run_id=f"night-{i:02d}", repetitions=6)
        run.started_at = f"2026-11-{i + 1:02d}T05:00:00+00:00"
        run.environment["git_commit"] = _commit(i)
        run.scenarios = [s for s in run.scenarios if any(s.name == name for name, _ in KEEP)]
        for s in run.scenarios:
            s.timeseries, s.details = {}, {}
            s.metrics = {k: m for k, m in s.metrics.items() if (s.name, k) in KEEP}
            for name, m in s.metrics.items():
                factor = rng.normal(1.0, 0.01)
                if (s.name, name, s.profile) == ("api_latency", "latency_p95_ms", "optimized") and i >= STEP_AT:
                    factor *= 1.25
                s.metrics[name] = Metric.from_samples([v * factor for v in m.samples], unit=m.unit, better=m.better)
        path = write_run(root / "runs" / run.run_id / "results.json", run)
        if i in with_report:
            (path.parent / "report.html").write_text("<!DOCTYPE html><title>report</title>")
    return root / "runs"


@dataclass(frozen=True)
class Site:
    runs_dir: Path
    page: HistoryPage
    file: Path  # the page written, in a directory beside the runs
    html: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The history of `_history` rendered once (charts are the slow part) for every test here."""
    runs_dir = _history(tmp_path_factory.mktemp("history"))
    frame, runs = read_history([runs_dir])
    page = build_page(frame, runs, find_changes(frame), runs_dir.parent / "site")
    html = render_page(page)
    file = runs_dir.parent / "site" / "history.html"
    file.parent.mkdir()
    file.write_text(html)
    return Site(runs_dir, page, file, html)


def test_change_point_appears_with_its_commit_range(site: Site) -> None:
    (row,) = site.page.changes
    c = row.change
    assert (c.scenario, c.metric, c.profile, c.index) == ("api_latency", "latency_p95_ms", "optimized", STEP_AT)
    assert row.kind == "regression" and row.anchor == "m-api_latency-latency_p95_ms"
    expected = f"{_commit(STEP_AT - 1)[:12]}..{_commit(STEP_AT)[:12]}"
    assert f'<td class="commit-range"><code>{expected}</code></td>' in site.html
    chart = site.html[site.html.index('id="m-api_latency-latency_p95_ms"') :]
    assert f"Change point (optimized) at <code>{expected}</code>" in chart[: chart.index("</div>")]
    assert [t.key for t in site.page.trends] == sorted(f"{s}.{m}" for s, m in KEEP)
    assert all(t.has_interval for t in site.page.trends)  # n = 6: every run has its interval band


def test_current_values_against_pack_and_rubric_targets(site: Site) -> None:
    rows = {(r.key, r.profile): r for r in site.page.current}
    assert len(rows) == 2 * len(KEEP)
    latency = rows[("api_latency.latency_p95_ms", "baseline")]
    assert latency.run_id == f"night-{RUNS - 1:02d}" and latency.metric.n == 6 and latency.metric.ci95 is not None
    assert latency.target is not None and (latency.target.value, latency.target.source) == (100.0, "pack")
    assert latency.verdict == "misses"  # ~149 ms against 100 ms
    assert rows[("api_latency.latency_p95_ms", "optimized")].verdict == "meets"  # ~51 ms
    assert rows[("api_latency.latency_p95_ms", "optimized")].last_change is not None
    rss = rows[("memory_footprint.rss_steady_mb", "optimized")]
    assert rss.target is not None and (rss.target.value, rss.target.source) == (256.0, "rubric")
    assert (rss.verdict, rss.last_change) == ("meets", None)


def test_runs_link_their_report_relatively_else_the_results_file(site: Site) -> None:
    links = re.findall(r'class="run-link" href="([^"]+)"', site.html)
    assert len(links) == RUNS
    assert links[0] == "../runs/night-00/report.html" and links[1] == "../runs/night-01/results.json"
    assert all((site.file.parent / link).exists() for link in links)


@pytest.mark.parametrize(
    ("value", "bound", "better", "target", "expected"),
    [
        (90.0, "exact", "lower", 100.0, "meets"),
        (110.0, "exact", "lower", 100.0, "misses"),
        (90.0, "at_least", "lower", 100.0, "undecided (bound)"),
        (110.0, "at_least", "lower", 100.0, "misses"),
        (90.0, "at_most", "lower", 100.0, "meets"),
        (110.0, "at_most", "lower", 100.0, "undecided (bound)"),
        (110.0, "at_least", "higher", 100.0, "meets"),
        (90.0, "at_least", "higher", 100.0, "undecided (bound)"),
        (90.0, "at_most", "higher", 100.0, "misses"),
        (90.0, "exact", "none", 100.0, "-"),
        (90.0, "exact", "lower", None, "-"),
    ],
)
def test_verdict_is_sure_only_where_a_bound_allows(
    value: float, bound: str, better: str, target: float | None, expected: str
) -> None:
    assert verdict(value, bound, better, target) == expected


def test_history_command_writes_the_page_and_prints_its_path(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["history", str(site.runs_dir), "--out", str(out), "--no-charts", "--metric", "capacity.max_sustainable_rps"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == f"page: {out / 'history.html'}"
    html = (out / "history.html").read_text()
    assert 'id="m-capacity-max_sustainable_rps"' in html and "No change point in these runs." in html


CHARTS_JS = """JSON.stringify([...document.querySelectorAll('.chart')].map(div => {
  const svg = div.querySelector('svg'), r = svg ? svg.getBoundingClientRect() : null;
  return {id: div.id, paths: div.querySelectorAll('svg path').length,
          box: r ? [r.left + scrollX, r.top + scrollY, r.width, r.height] : null};
}))"""


@pytest.mark.skipif(not browser.CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)")
def test_page_opens_without_console_messages_or_requests_and_draws_every_chart(
    chromium: browser.DevTools, site: Site
) -> None:
    drawn = browser.open_quietly(chromium, site.file, CHARTS_JS)
    assert sorted(c["id"] for c in drawn) == sorted(f"m-{s}-{m}" for s, m in KEEP)
    for chart in drawn:
        assert chart["paths"] > 20 and chart["box"][2] > 300 and chart["box"][3] > 100, chart
        pixels = browser._image(chromium, chart["box"])
        for colour in browser.PROFILE_COLOURS:  # both profiles' lines and bands drawn
            assert browser._has(pixels, colour) > 50, f"{chart['id']}: no {colour} drawn"
