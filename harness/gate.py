"""The regression gate: decide pass / regression / undecidable from two sides of runs, for CI.

`decide()` takes the baseline's and the candidate's runs (one or several results each; the run is the
unit of comparison) and turns their comparison (`harness.compare`) into one outcome with an exit code:
0 pass (every gated metric shown equivalent within the threshold, or improved), 1 a significant
regression beyond the threshold, 2 the gate could not decide (an invalid or incomplete run, a missing
metric, one run per side, too few runs, too much noise). A definite regression wins over undecidable
metrics: one proven regression is enough to fail. One run per side never fails and never passes.

`run_interleaved()` runs repetitions A B A B ... on the same machine through a callable
`run_once(label) -> RunResults`, so drift in the machine (thermal, neighbours, caches) hits both sides
alike; `gate_interleaved()` decides on those runs pair by pair.

`to_junit_xml()` and `to_markdown()` render a decision for CI (one test case per gated metric).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from harness.compare import CompareSettings, MetricComparison, Verdict, compare_runs
from harness.compare import to_markdown as comparison_markdown
from harness.results import RunResults

BASELINE = "baseline"
CANDIDATE = "candidate"

RunOnce = Callable[[str], RunResults]


class GateOutcome(IntEnum):
    """The gate's decision; the value is the process exit code."""

    PASS = 0
    REGRESSION = 1
    UNDECIDABLE = 2


@dataclass
class GateDecision:
    """The outcome, why, and every metric comparison behind it."""

    outcome: GateOutcome
    reasons: list[str]
    comparisons: list[MetricComparison]
    baseline: list[RunResults]
    candidate: list[RunResults]
    settings: CompareSettings = field(default_factory=CompareSettings)

    @property
    def exit_code(self) -> int:
        return int(self.outcome)


def _run_problem(run: RunResults, side: str) -> str | None:
    if run.status == "complete":
        return None
    return f"{side} run {run.run_id} is {run.status}" + (f": {run.status_reason}" if run.status_reason else "")


def _problems(runs: Sequence[RunResults], side: str) -> list[str]:
    return [p for run in runs if (p := _run_problem(run, side))]


def decide(
    baseline: RunResults | Sequence[RunResults],
    candidate: RunResults | Sequence[RunResults],
    settings: CompareSettings | None = None,
    metrics: Sequence[str] | None = None,
) -> GateDecision:
    """Decide on two sides of one or more runs each (the run is the unit of comparison).

    `metrics` (`scenario.metric`) restricts the gate; default: every directional metric on both sides.
    """
    settings = settings or CompareSettings()
    base_runs = [baseline] if isinstance(baseline, RunResults) else list(baseline)
    cand_runs = [candidate] if isinstance(candidate, RunResults) else list(candidate)
    if not base_runs or not cand_runs:
        raise ValueError("the gate needs at least one run on each side")
    comparisons = compare_runs(base_runs, cand_runs, settings, metrics)
    run_problems = _problems(base_runs, BASELINE) + _problems(cand_runs, CANDIDATE)
    reasons = list(run_problems)
    if metrics:
        present = {f"{c.scenario}.{c.metric}" for c in comparisons}
        reasons += [f"metric {m} is not on both sides" for m in sorted(set(metrics) - present)]
    gated = [c for c in comparisons if c.verdict is not Verdict.INFORMATIONAL]
    if not gated:
        reasons.append("no directional metric is present on both sides")
    if len(base_runs) == 1 and len(cand_runs) == 1:
        reasons.append(
            "one run per side: no change can be shown and no regression proven; gate several runs per side "
            "(--baseline A1 --baseline A2 ...) or run both sides interleaved (--pack)"
        )
    regressions = [c for c in gated if c.verdict is Verdict.REGRESSION]
    undecided = [c for c in gated if c.verdict is Verdict.UNDECIDABLE]
    if regressions and not run_problems:
        outcome = GateOutcome.REGRESSION
        reasons = [f"{c.key}: {c.reason}" for c in regressions] + reasons
    elif reasons or undecided:
        outcome = GateOutcome.UNDECIDABLE
        reasons += [f"{c.key}: {c.reason}" for c in undecided]
    else:
        outcome = GateOutcome.PASS
        reasons.append(
            f"{len(gated)} metrics compared over {len(base_runs)} vs {len(cand_runs)} runs: each is equivalent "
            f"within x{settings.threshold:g} or improved"
        )
    return GateDecision(outcome, reasons, comparisons, base_runs, cand_runs, settings)


def run_interleaved(
    run_once: RunOnce, repetitions: int, labels: tuple[str, str] = (BASELINE, CANDIDATE)
) -> tuple[list[RunResults], list[RunResults]]:
    """Run `repetitions` rounds of A then B (A B A B ...); return the runs of each side."""
    if repetitions < 1:
        raise ValueError(f"repetitions must be at least 1, got {repetitions}")
    first: list[RunResults] = []
    second: list[RunResults] = []
    for _ in range(repetitions):
        first.append(run_once(labels[0]))
        second.append(run_once(labels[1]))
    return first, second


def gate_interleaved(
    run_once: RunOnce,
    repetitions: int,
    settings: CompareSettings | None = None,
    metrics: Sequence[str] | None = None,
    paired: bool = True,
) -> GateDecision:
    """Run A B A B ... through `run_once` and decide on the runs of each side.

    `paired` (default) compares run i of A with run i of B (see `CompareSettings.paired`).
    """
    base_runs, cand_runs = run_interleaved(run_once, repetitions)
    return decide(base_runs, cand_runs, replace(settings or CompareSettings(), paired=paired), metrics)


def _sides(decision: GateDecision) -> list[tuple[str, RunResults]]:
    return [(BASELINE, r) for r in decision.baseline] + [(CANDIDATE, r) for r in decision.candidate]


def to_junit_xml(decision: GateDecision) -> str:
    """JUnit XML: one test case per metric; regressions fail, undecidable metrics and runs are errors."""
    suite = ET.Element("testsuite", name="athbench.gate")
    for side, run in _sides(decision):
        case = ET.SubElement(suite, "testcase", classname="athbench.gate.runs", name=f"{side} {run.run_id}")
        if problem := _run_problem(run, side):
            ET.SubElement(case, "error", message=problem, type="invalid_run")
    for c in decision.comparisons:
        case = ET.SubElement(suite, "testcase", classname=f"athbench.gate.{c.scenario}", name=c.key)
        if c.verdict is Verdict.REGRESSION:
            ET.SubElement(case, "failure", message=c.reason, type="regression")
        elif c.verdict is Verdict.UNDECIDABLE:
            ET.SubElement(case, "error", message=c.reason, type="undecidable")
        else:
            ET.SubElement(case, "system-out").text = f"{c.verdict.value}: {c.reason}"
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def to_markdown(decision: GateDecision) -> str:
    """A Markdown summary for a CI job page: outcome, reasons, the two runs, the comparison table."""
    label = {GateOutcome.PASS: "PASS", GateOutcome.REGRESSION: "REGRESSION", GateOutcome.UNDECIDABLE: "UNDECIDABLE"}
    lines = [
        f"## athbench gate: {label[decision.outcome]} (exit {decision.exit_code})",
        "",
        *[f"- {reason}" for reason in decision.reasons],
        "",
        "| side | run | status | commit |",
        "|---|---|---|---|",
    ]
    for side, run in _sides(decision):
        commit = str(run.environment.get("git_commit") or "-")[:12]
        lines.append(f"| {side} | {run.run_id} | {run.status} | {commit} |")
    lines += ["", comparison_markdown(decision.comparisons, decision.settings)]
    return "\n".join(lines)
