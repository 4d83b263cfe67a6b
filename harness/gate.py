"""The regression gate: decide pass / regression / undecidable from two runs, for CI.

`decide()` reads two results (baseline, candidate) and turns their comparison (`harness.compare`) into
one outcome with an exit code: 0 pass, 1 a significant regression beyond the threshold, 2 the gate could
not decide (an invalid or incomplete run, a missing metric, too few repetitions, too much noise).
A definite regression wins over undecidable metrics: one proven regression is enough to fail.

`run_interleaved()` runs repetitions A B A B ... on the same machine through a callable
`run_once(label) -> RunResults`, so drift in the machine (thermal, neighbours, caches) hits both sides
alike; `merge_runs()` pools the repetitions of each side into one RunResults for `decide()`.

`to_junit_xml()` and `to_markdown()` render a decision for CI (one test case per gated metric).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from harness.compare import CompareSettings, MetricComparison, Verdict, compare_runs
from harness.compare import to_markdown as comparison_markdown
from harness.results import Metric, RunResults, ScenarioResult

BASELINE = "baseline"
CANDIDATE = "candidate"
_STATUS_RANK = {"complete": 0, "incomplete": 1, "invalid": 2, "failed": 3}

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
    baseline: RunResults
    candidate: RunResults
    settings: CompareSettings = field(default_factory=CompareSettings)

    @property
    def exit_code(self) -> int:
        return int(self.outcome)


def _run_problem(run: RunResults, side: str) -> str | None:
    if run.status == "complete":
        return None
    return f"{side} run {run.run_id} is {run.status}" + (f": {run.status_reason}" if run.status_reason else "")


def decide(
    baseline: RunResults,
    candidate: RunResults,
    settings: CompareSettings | None = None,
    metrics: Sequence[str] | None = None,
) -> GateDecision:
    """Decide on two runs. `metrics` (`scenario.metric`) restricts the gate; default: all directional ones."""
    settings = settings or CompareSettings()
    comparisons = compare_runs(baseline, candidate, settings, metrics)
    reasons = [p for p in (_run_problem(baseline, BASELINE), _run_problem(candidate, CANDIDATE)) if p]
    if metrics:
        present = {f"{c.scenario}.{c.metric}" for c in comparisons}
        reasons += [f"metric {m} is not in both runs" for m in sorted(set(metrics) - present)]
    gated = [c for c in comparisons if c.verdict is not Verdict.INFORMATIONAL]
    if not gated:
        reasons.append("no directional metric is present in both runs")
    regressions = [c for c in gated if c.verdict is Verdict.REGRESSION]
    undecided = [c for c in gated if c.verdict is Verdict.UNDECIDABLE]
    run_invalid = bool(_run_problem(baseline, BASELINE) or _run_problem(candidate, CANDIDATE))
    if regressions and not run_invalid:
        outcome = GateOutcome.REGRESSION
        reasons = [f"{c.key}: {c.reason}" for c in regressions] + reasons
    elif reasons or undecided:
        outcome = GateOutcome.UNDECIDABLE
        reasons += [f"{c.key}: {c.reason}" for c in undecided]
    else:
        outcome = GateOutcome.PASS
        reasons.append(f"{len(gated)} metrics compared, no significant regression beyond x{settings.threshold:g}")
    return GateDecision(outcome, reasons, comparisons, baseline, candidate, settings)


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


def _worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=lambda s: _STATUS_RANK.get(s, len(_STATUS_RANK)))


def merge_runs(runs: Sequence[RunResults], run_id: str) -> RunResults:
    """Pool repetitions: one RunResults whose metric samples are all the runs' samples, in order.

    The merged status (run and scenario) is the worst of the inputs, with every reason kept.
    """
    if not runs:
        raise ValueError("merge_runs needs at least one run")
    scenarios: dict[tuple[str, str], ScenarioResult] = {}
    samples: dict[tuple[str, str, str], list[float]] = {}
    units: dict[tuple[str, str, str], tuple[str, str]] = {}
    for run in runs:
        for s in run.scenarios:
            merged = scenarios.setdefault(
                (s.name, s.profile), ScenarioResult(name=s.name, profile=s.profile, params=s.params)
            )
            merged.status = _worst([merged.status, s.status])
            if s.reason:
                merged.reason = "; ".join(r for r in (merged.reason, f"{run.run_id}: {s.reason}") if r)
            for name, metric in s.metrics.items():
                key = (s.name, s.profile, name)
                samples.setdefault(key, []).extend(metric.samples)
                units[key] = (metric.unit, metric.better)
    for (scenario, profile, name), values in samples.items():
        unit, better = units[(scenario, profile, name)]
        scenarios[(scenario, profile)].metrics[name] = Metric.from_samples(values, unit=unit, better=better)  # type: ignore[arg-type]
    reasons = [f"{r.run_id}: {r.status_reason or r.status}" for r in runs if r.status != "complete"]
    return RunResults(
        run_id=run_id,
        pack=runs[0].pack,
        status=_worst([r.status for r in runs]),
        status_reason="; ".join(reasons) or None,
        started_at=runs[0].started_at,
        finished_at=runs[-1].finished_at,
        environment={**runs[0].environment, "merged_runs": [r.run_id for r in runs]},
        targets=runs[0].targets,
        scenarios=list(scenarios.values()),
    )


def gate_interleaved(
    run_once: RunOnce,
    repetitions: int,
    settings: CompareSettings | None = None,
    metrics: Sequence[str] | None = None,
    paired: bool = True,
) -> GateDecision:
    """Run A B A B ... through `run_once`, pool each side and decide.

    `paired` (default) compares run i of A with run i of B (see `CompareSettings.paired`).
    """
    base_runs, cand_runs = run_interleaved(run_once, repetitions)
    return decide(
        merge_runs(base_runs, f"{BASELINE}-x{repetitions}"),
        merge_runs(cand_runs, f"{CANDIDATE}-x{repetitions}"),
        replace(settings or CompareSettings(), paired=paired),
        metrics,
    )


def to_junit_xml(decision: GateDecision) -> str:
    """JUnit XML: one test case per metric; regressions fail, undecidable metrics and runs are errors."""
    suite = ET.Element("testsuite", name="athbench.gate")
    for side, run in ((BASELINE, decision.baseline), (CANDIDATE, decision.candidate)):
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
    for side, run in ((BASELINE, decision.baseline), (CANDIDATE, decision.candidate)):
        commit = str(run.environment.get("git_commit") or "-")[:12]
        lines.append(f"| {side} | {run.run_id} | {run.status} | {commit} |")
    lines += ["", comparison_markdown(decision.comparisons, decision.settings)]
    return "\n".join(lines)
