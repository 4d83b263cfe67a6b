"""HTML / Markdown rendering: sections like the original, escaping, not-graded runs, the CLI."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

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
    # comparison of both profiles, with CIs and n in the benchmark table
    assert "Current: baseline" in html and "Current: optimized" in html and "n=3" in html
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


def test_an_invalid_run_renders_as_not_graded(tmp_path: Path):
    run = dataclasses.replace(build_run(), status="invalid", status_reason="generator fell behind its schedule")
    report = build(run)
    html, markdown = render_html(report), render_markdown(report)
    assert report.headline is None
    for text in (html, markdown):
        assert "Not graded." in text and "generator fell behind its schedule" in text
    assert "Overall grade" not in markdown and "Grade Breakdown" not in html


def test_markdown_summary_lists_grades_bottlenecks_and_claims():
    markdown = render_markdown(build(build_run(), with_charts=False))
    assert "| baseline | **B-** |" in markdown and "| optimized | **A+** |" in markdown
    assert "| CPU Performance | C (54) | A+ (96) |" in markdown
    assert "`psutil.cpu_percent` at `psutil/__init__.py:1846`" in markdown
    assert "| 15% CPU reduction |" in markdown and "<svg" not in markdown


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
