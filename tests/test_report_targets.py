"""One target per metric: every table, finding and recommendation of a report states the same figure."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from reports_fixtures import build_run

from harness.packs import load_pack
from harness.results import RunResults
from reports.grading import grade_run, target_for
from reports.recommendations import opportunities
from reports.render import Report, build, grade_target, render_html, render_markdown
from reports.rubric import load as load_rubric

ROW = re.compile(r'<tr data-metric="([^"]+)">(.*?)</tr>', re.S)
TARGET_CELL = re.compile(r'<td class="(?:num )?target">(.*?)</td>', re.S)


def quick_run() -> RunResults:
    """The report fixtures' run with the quick pack's targets, as `athbench assess` writes it."""
    run = build_run()
    run.pack, run.targets = "quick", dict(load_pack("quick").targets)
    return run


@pytest.fixture(scope="module")
def report() -> Report:
    return build(quick_run(), with_charts=False)


def html_targets(text: str) -> dict[str, set[str]]:
    """Every target cell of the HTML report, by metric (areas, scalability and benchmark tables)."""
    found: dict[str, set[str]] = {}
    for key, row in ROW.findall(text):
        for cell in TARGET_CELL.findall(row):
            found.setdefault(key, set()).add(htmllib.unescape(cell).strip())
    return found


def test_every_metric_states_the_gradings_target_once(report: Report) -> None:
    targets = html_targets(render_html(report))
    graded = {g.key: g for a in report.assessments.values() for area in a.areas for g in area.metrics}
    assert set(graded) <= set(targets), "a graded metric has no target cell"
    for key, g in graded.items():
        assert targets[key] == {grade_target(g, source=True)}, key
        expected = report.run.targets.get(key, report.rubric.rule(key).good)  # type: ignore[union-attr]
        assert g.target == expected, key
        assert g.target_from == ("pack" if key in report.run.targets else "rubric"), key
    # the case of issue 15: the scalability table said 500 req/s while grading used the pack's 1,500
    assert targets["capacity.max_sustainable_rps"] == {"≥ 1,500 req/s (pack)"}
    for profile in report.assessments:
        assert report.assessments[profile].metric("capacity.max_sustainable_rps").target == 1500.0  # type: ignore[union-attr]


def test_scalability_rows_without_a_rubric_rule_take_the_packs_target(report: Report) -> None:
    targets = html_targets(render_html(report))
    assert targets["capacity.usl_peak_concurrency"] == {"1,000 users (pack)"}  # better = "none" in the fixture
    assert targets["horizontal_scaling.scaling_efficiency_2"] == {"0.90 (pack)"}  # not measured: no direction
    bare = build(build_run(), with_charts=False)  # no pack targets: the rubric's, or none
    bare_targets = html_targets(render_html(bare))
    assert bare_targets["capacity.max_sustainable_rps"] == {"≥ 500 req/s (rubric)"}
    assert bare_targets["capacity.usl_peak_concurrency"] == {"-"}


def test_markdown_findings_and_opportunities_state_the_same_target(report: Report) -> None:
    markdown = render_markdown(report)
    headline = report.headline
    assert headline is not None
    for line in markdown.splitlines():
        if line.startswith("| Requests per Second |"):
            assert line.rstrip().endswith("| ≥ 1,500 req/s (pack) |"), line
            break
    else:
        pytest.fail("no Requests per Second row in the Markdown headline figures")
    # the dashboard finding quotes the pack's 5 ms, not the rubric's 100 ms
    slow = [f for f in report.findings["baseline"] if f.key == "dashboard_query_p95_ms"]
    assert slow and "(target 5 ms)" in slow[0].impact
    ops = {o.metric: o for o in opportunities(report.run, report.assessments["optimized"], report.rubric)}
    assert ops["capacity.max_sustainable_rps"].target == 1500.0


def test_a_pack_target_that_cannot_anchor_a_curve_is_still_the_one_stated() -> None:
    run = quick_run()
    rubric = load_rubric()
    target = target_for("resilience_faults.hung_requests", run.targets, rubric)
    assert target is not None and (target.value, target.source, target.direction) == (0.0, "pack", "lower")
    g = grade_run(run, rubric)["optimized"].metric("resilience_faults.hung_requests")
    assert g is not None and g.target == 0.0 and g.good == rubric.rule(g.key).good  # type: ignore[union-attr]
    assert g.meets_target  # 0 hung requests in the fixture
    assert target_for("capacity.usl_sigma", run.targets, rubric) is None  # no pack or rubric target
