"""HTML / Markdown rendering: sections like the original, escaping, not-graded runs, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from reports_fixtures import build_run, write_run
from typer.testing import CliRunner

from harness.cli import app
from harness.results import Metric, ScenarioResult, read
from reports.render import build, render_html, render_markdown, write_report

SECTIONS = (
    "Executive Summary",
    "Detailed Performance Analysis",
    "Scalability Assessment",
    "Scalability Targets",
    "Critical Bottlenecks &amp; Solutions",
    "Performance Optimization Recommendations",
    "Performance Benchmarks &amp; Targets",
    "Conclusion &amp; Final Grade",
    "Appendix",
)
HOSTILE = "<script>alert(1)</script>"


def test_html_has_the_original_sections_grades_and_every_chart(tmp_path: Path):
    report = build(read(write_run(tmp_path / "results.json")))
    html = render_html(report)
    for section in SECTIONS:
        assert f">{section}</h" in html, section
    assert len(report.charts) == 9
    assert html.count("<svg") == len(report.charts)
    assert "psutil.cpu_percent" in html and "system_under_test/health/checks.py:88" in html
    assert "15% CPU reduction" in html and "50% response time improvement" in html
    # comparison of both profiles, with n in the benchmark table
    assert "Current: baseline" in html and "Current: optimized" in html and "n=3, n too small" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external reference in the report"


def test_text_from_the_results_file_is_escaped(tmp_path: Path):
    run = build_run()
    run.scenarios.append(
        ScenarioResult(name=HOSTILE, profile="optimized", metrics={"x": Metric.single(1.0, unit=HOSTILE)})
    )
    run.scenarios.append(
        ScenarioResult(name="db_query", profile="optimized", status="failed", reason='<img src=x onerror="alert(2)">')
    )
    run.environment["os"] = HOSTILE
    path = write_run(tmp_path / "results.json", run)
    html = write_report(read(path), tmp_path / "report.html").read_text()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    markdown = write_report(read(path), tmp_path / "report.md", "md").read_text()
    assert "<script>" not in markdown and "<img" not in markdown


def test_a_run_of_invalid_scenarios_renders_as_not_graded(tmp_path: Path):
    run = build_run()
    for scenario in run.scenarios:
        scenario.status, scenario.reason = "invalid", "generator fell behind its schedule"
    report = build(run)
    html, markdown = render_html(report), render_markdown(report)
    assert report.headline is None
    for text in (html, markdown):
        assert "Not graded." in text and "every area misses a metric or failed" in text
    assert "Overall grade" not in markdown and "Grade Breakdown" not in html
    assert "generator fell behind its schedule" in html  # the appendix keeps every scenario's reason


def test_one_invalid_scenario_is_named_with_its_first_reason_beside_the_grades():
    run = build_run()
    (latency,) = [s for s in run.scenarios if s.name == "api_latency" and s.profile == "optimized"]
    latency.status = "invalid"
    latency.reason = "repetition 1: load generator fell behind its schedule; repetition 2: generator short of CPU"
    report = build(run, with_charts=False)
    html, markdown = render_html(report), render_markdown(report)
    assert report.ungraded == [
        ("api_latency", "optimized", "invalid", "repetition 1: load generator fell behind its schedule (+1 more)")
    ]
    assert "**Left out of the grades:** `api_latency` (optimized) invalid: repetition 1:" in markdown
    summary = html[html.index('id="summary"') : html.index('id="areas"')]
    assert "Left out of the grades:" in summary and "<code>api_latency</code> (optimized) invalid" in summary
    assert "Left out of the grades" not in render_markdown(build(build_run(), with_charts=False))


def test_markdown_summary_lists_grades_bottlenecks_and_claims():
    markdown = render_markdown(build(build_run(), with_charts=False))
    assert "| baseline | **B-** provisional |" in markdown and "| optimized | **A+** provisional |" in markdown
    assert "| CPU Performance | C (54) provisional | A+ (96) provisional |" in markdown
    assert "`psutil.cpu_percent` at `psutil/__init__.py:1846`" in markdown
    assert "| 15% CPU reduction |" in markdown and "<svg" not in markdown


@pytest.mark.parametrize("repetitions", [3, 5])
def test_grades_on_n_below_6_are_provisional_in_html_markdown_and_the_summary(repetitions: int):
    report = build(build_run(repetitions=repetitions), with_charts=False)
    html, markdown = render_html(report), render_markdown(report)
    summary = html[html.index('id="summary"') : html.index('id="areas"')]
    assert "Provisional grades." in summary and "baseline, optimized" in summary
    assert "**Provisional grades:**" in markdown
    assert html.count('class="qual">provisional</span>') >= 20  # every area of both profiles
    assert f"n={repetitions}, n too small" in html and f"n={repetitions}, n too small" in markdown
    assert "n too small: no 95 % interval of the change" in html  # no claimed-vs-measured verdict


def test_grades_on_n_of_at_least_6_are_not_provisional_and_show_intervals():
    report = build(build_run(repetitions=8), with_charts=False)
    html, markdown = render_html(report), render_markdown(report)
    assert "Provisional" not in html and "Provisional" not in markdown and "provisional" not in markdown
    assert 'class="qual">provisional' not in html
    assert not re.search(r"n=\d+, n too small", html + markdown)
    assert "41.2 ms (99.2% CI 39.5 ms–44.4 ms, n=8)" in html  # (x_(1), x_(8)) of the p95, exact coverage
    assert "claim met" in html


ZERO_WIDTH = re.compile(r"(?<![\d.,])([-+]?\d[\d,.]*)(%| [a-zA-Z/%]+)?\s?[–-]\s?\1\2?(?![\d.,])")


@pytest.mark.parametrize("repetitions", [1, 3, 6, 8, 12])
def test_no_interval_of_zero_width_is_printed(repetitions: int):
    report = build(build_run(repetitions=repetitions), with_charts=False)
    for text in (render_html(report), render_markdown(report)):
        assert not ZERO_WIDTH.findall(text), ZERO_WIDTH.findall(text)[:5]
    assert ZERO_WIDTH.search("41.0 ms–41.0 ms") and ZERO_WIDTH.search("(96–96)")  # the pattern does catch them


def test_tied_repetitions_are_said_to_be_tied():
    html = render_html(build(build_run(repetitions=8), with_charts=False))
    assert "n=8, no interval: the central repetitions are tied at 0" in html  # hung_requests 0 in every one
    assert "tied at 0</td>" in html  # the raw-figures appendix


def test_a_failed_scenario_shows_as_failed_not_as_not_measured():
    run = build_run()
    for scenario in run.scenarios:
        if scenario.name == "backup_time" and scenario.profile == "baseline":
            scenario.status, scenario.reason = "failed", "pg_dump crashed"
    report = build(run, with_charts=False)
    html, markdown = render_html(report), render_markdown(report)
    assert "| I/O Performance | failed | A- (86) provisional |" in markdown
    overall = "| baseline | **C+** provisional | 60 (no interval: needs n ≥ 10, n ≥ 3) |"
    assert overall + " I/O Performance, Backup & Recovery | - |" in markdown
    assert "Compared on the 8 areas every profile measured (left out: I/O Performance, Backup &amp; Recovery): " in (
        markdown
    )
    assert "baseline **B** (74, provisional) · optimized **A+** (97, provisional)." in markdown
    assert "baseline: failed - backup_time.live_p95_backup_ratio: scenario failed: pg_dump crashed" in html
    assert "Failed (count 0): I/O Performance, Backup &amp; Recovery" in html
    assert "baseline: not measured" not in html


def test_bounds_print_as_at_least_and_at_most_and_grade_at_best():
    run = build_run(repetitions=8)
    for scenario in run.scenarios:
        if scenario.name == "api_latency" and scenario.profile == "optimized":
            p95 = scenario.metrics["latency_p95_ms"]
            scenario.metrics["latency_p95_ms"] = Metric.from_samples(p95.samples, "ms", "lower", bound="at_least")
        if scenario.name == "health_overhead" and scenario.profile == "optimized":
            lag = scenario.metrics["event_loop_lag_max_ms"]
            scenario.metrics["event_loop_lag_max_ms"] = Metric.from_samples(lag.samples, "ms", bound="at_most")
    report = build(run, with_charts=False)
    html, markdown = render_html(report), render_markdown(report)
    assert "≥ 41.2 ms (99.2% CI 39.5 ms–44.4 ms, n=8)" in html and "≥ 41.2 ms (99.2% CI" in markdown
    assert "≤ 6.1" in html
    latency_row = next(line for line in markdown.splitlines() if line.startswith("| Latency |"))
    assert latency_row.endswith("at best |")
    assert '<span class="qual">at least</span>' in html  # the CPU area rests on an upper-bounded lag
    assert "bounded both ways" in html  # the overall mixes both


def test_a_version_1_results_file_renders(tmp_path: Path):
    doc = build_run().to_dict()
    doc["schema_version"] = 1
    for scenario in doc["scenarios"]:
        for metric in scenario["metrics"].values():
            metric["ci95"] = [metric["median"], metric["median"]]  # what version 1 wrote at n = 1
            del metric["ci_coverage"], metric["bound"]
    path = tmp_path / "old" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["report", str(path.parent), "--format", "md"])
    assert result.exit_code == 0, result.output
    markdown = (path.parent / "report.md").read_text()
    assert "**Provisional grades:**" in markdown and "n=3, n too small" in markdown
    assert not ZERO_WIDTH.findall(markdown)


def test_a_single_profile_run_has_no_comparison(tmp_path: Path):
    report = build(build_run(profiles=("optimized",)))
    assert not report.compared and "Baseline vs optimized" not in report.charts
    assert "not measured under both profiles" in render_html(report)


def test_report_command_writes_html_and_md(tmp_path: Path):
    path = write_run(tmp_path / "run" / "results.json")
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(path.parent)])
    assert result.exit_code == 0, result.output
    assert (path.parent / "report.html").read_text().startswith("<!DOCTYPE html>")
    result = runner.invoke(app, ["report", str(path), "--format", "md", "--output", str(tmp_path / "s.md")])
    assert result.exit_code == 0 and (tmp_path / "s.md").read_text().startswith("## Performance")
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such results file" in " ".join(result.output.split())
