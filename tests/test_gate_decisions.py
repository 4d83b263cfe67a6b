"""harness.gate: exit codes, the run as the unit, interleaving, JUnit XML and the `athbench gate` command."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from harness.cli import app
from harness.compare import CompareSettings
from harness.gate import GateOutcome, decide, gate_interleaved, run_interleaved, to_junit_xml, to_markdown
from harness.results import Metric, RunResults, ScenarioResult, save


def _run(run_id: str, samples: list[float], status: str = "complete", better: str = "lower") -> RunResults:
    """A run; `status` is its scenario's ("invalid": the run is incomplete, its scenario invalid)."""
    reason = "load generator saturated" if status == "invalid" else None
    scenario = ScenarioResult(
        name="api_latency",
        profile="optimized",
        status=status,
        reason=reason,
        metrics={"latency_p95_ms": Metric.from_samples(samples, unit="ms", better=better)},  # type: ignore[arg-type]
    )
    return RunResults(
        run_id=run_id,
        pack="quick",
        status="complete" if status == "complete" else "incomplete",
        status_reason=reason,
        environment={"git_commit": f"{run_id}0000"},
        scenarios=[scenario],
    )


def _side(prefix: str, values: list[float], status: str = "complete") -> list[RunResults]:
    """One run per value; each run has a few repetitions around its value."""
    return [_run(f"{prefix}{i}", [v * 0.99, v, v * 1.01], status) for i, v in enumerate(values)]


BASE = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95]
SAME = [10.1, 9.9, 10.0, 10.15, 9.92, 10.08]
SLOWER = [11.0, 11.2, 10.9, 11.1, 11.05, 10.95]


def test_pass_regression_undecidable() -> None:
    passed = decide(_side("a", BASE), _side("b", SAME))
    assert passed.outcome is GateOutcome.PASS, passed.reasons
    regressed = decide(_side("a", BASE), _side("b", SLOWER))
    assert regressed.outcome is GateOutcome.REGRESSION and regressed.exit_code == 1
    too_few = decide(_side("a", BASE[:3]), _side("b", SLOWER[:3]))
    assert too_few.outcome is GateOutcome.UNDECIDABLE  # 3 runs a side: no 95 % CI, no test below 0.05
    invalid = decide(_side("a", BASE), [*_side("b", SLOWER[:5]), _run("b5", [11.0], status="invalid")])
    assert invalid.outcome is GateOutcome.UNDECIDABLE and any("load generator saturated" in r for r in invalid.reasons)
    missing = decide(_side("a", BASE), _side("b", SAME), metrics=["api_latency.throughput_rps"])
    assert missing.outcome is GateOutcome.UNDECIDABLE


def test_one_run_per_side_never_passes_nor_fails() -> None:
    many_reps = [10.0 + 0.01 * i for i in range(20)]
    for factor in (1.0, 1.3, 3.0):
        decision = decide(_run("a", many_reps), _run("b", [x * factor for x in many_reps]))
        assert decision.outcome is GateOutcome.UNDECIDABLE and decision.exit_code == 2
        assert any("one run per side" in r for r in decision.reasons)


def test_equivalence_needed_for_a_pass() -> None:
    # +5 % on average with run-to-run scatter: not a proven regression, and not shown within x1.05 either
    drifted = [10.3, 10.75, 10.6, 10.15, 10.9, 10.45]
    decision = decide(_side("a", BASE), _side("b", drifted))
    assert decision.outcome is GateOutcome.UNDECIDABLE, decision.reasons
    slightly = [x * 1.01 for x in BASE]
    assert decide(_side("a", BASE), _side("b", slightly)).outcome is GateOutcome.PASS
    tight = [10.0, 10.004, 10.008, 10.012, 10.016, 10.02]  # a precise measurement resolves a 1 % change
    strict = CompareSettings(threshold=1.005)
    assert decide(_side("a", tight), _side("b", [x * 1.01 for x in tight]), strict).outcome is GateOutcome.REGRESSION


def test_junit_and_markdown() -> None:
    decision = decide(_side("a", BASE), _side("b", SLOWER))
    suite = ET.fromstring(to_junit_xml(decision))
    assert suite.get("failures") == "1" and suite.get("tests") == str(12 + 1)  # one case per run + the metric
    assert suite.find("testcase/failure") is not None
    markdown = to_markdown(decision)
    assert "REGRESSION (exit 1)" in markdown and "| 6/6 |" in markdown


def test_interleaving_order() -> None:
    labels: list[str] = []

    def run_once(label: str) -> RunResults:
        labels.append(label)
        return _run(f"{label}{len(labels)}", [float(len(labels))])

    base_runs, cand_runs = run_interleaved(run_once, 3)
    assert [r.run_id for r in cand_runs] == ["candidate2", "candidate4", "candidate6"]
    assert [r.run_id for r in base_runs] == ["baseline1", "baseline3", "baseline5"]
    assert labels == ["baseline", "candidate"] * 3


def _timed_workload(size: int) -> float:
    """Milliseconds to sort `size` random floats (a real measurement, not a simulated one)."""
    data = np.random.default_rng(0).random(size)
    t0 = time.perf_counter()
    np.sort(data, kind="mergesort")
    return (time.perf_counter() - t0) * 1000.0


def test_gate_on_real_measurements_detects_a_doubled_workload() -> None:
    def run_once(label: str) -> RunResults:
        size = 50_000 if label == "baseline" else 100_000
        return _run(label, [min(_timed_workload(size) for _ in range(3))])

    decision = gate_interleaved(run_once, repetitions=10)
    assert decision.outcome is GateOutcome.REGRESSION, decision.reasons


def test_gate_on_real_measurements_same_code_is_not_a_regression() -> None:
    def run_once(label: str) -> RunResults:
        return _run(label, [min(_timed_workload(50_000) for _ in range(3))])

    decision = gate_interleaved(run_once, repetitions=10, settings=CompareSettings(threshold=1.25))
    assert decision.outcome is not GateOutcome.REGRESSION, decision.reasons


def _save_side(tmp_path: Path, name: str, values: list[float], status: str = "complete") -> list[Path]:
    return [save(run, tmp_path / name / run.run_id / "results.json") for run in _side(name, values, status)]


def test_gate_command_exit_codes_and_outputs(tmp_path: Path) -> None:
    runner = CliRunner()
    base = _save_side(tmp_path, "a", BASE)
    same = _save_side(tmp_path, "b", SAME)
    slower = _save_side(tmp_path, "c", SLOWER)
    invalid = _save_side(tmp_path, "d", SAME, status="invalid")
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    args = ["gate", "--junit", str(junit), "--summary", str(summary)]
    for path in base:
        args += ["--baseline", str(path)]

    def gate(*candidate: str) -> int:
        return runner.invoke(app, [*args, *[a for c in candidate for a in ("--candidate", c)]]).exit_code

    assert gate(*map(str, same)) == 0
    assert gate(str(tmp_path / "c")) == 1  # a directory of runs is that side's runs
    assert ET.parse(junit).getroot().get("failures") == "1"
    assert "REGRESSION" in summary.read_text()
    assert gate(*map(str, invalid)) == 2
    one = runner.invoke(app, ["gate", "--baseline", str(base[0]), "--candidate", str(slower[0])])
    assert one.exit_code == 2 and "one run per side" in " ".join(one.output.split())
    result = runner.invoke(app, [*args, "--candidate", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "no such results file" in result.output
    result = runner.invoke(app, ["gate", "--baseline", str(base[0])])
    assert result.exit_code == 2 and "--pack to run both sides" in " ".join(result.output.split())


def test_compare_command_prints_table_and_markdown(tmp_path: Path) -> None:
    _save_side(tmp_path, "a", BASE)
    _save_side(tmp_path, "c", SLOWER)
    markdown = tmp_path / "compare.md"
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "c"), "--markdown", str(markdown)])
    assert result.exit_code == 0, result.output
    assert "6 runs" in result.output
    assert "| api_latency.latency_p95_ms [optimized] | ms | lower |" in markdown.read_text()
    assert "| regression |" in markdown.read_text()


def test_compare_command_reads_version_1_results_files(tmp_path: Path) -> None:
    """Files written before schema 2 (bootstrap `ci95`, no `bound`) still compare."""
    paths = []
    for name, value in (("old-a", 10.0), ("old-b", 12.0)):
        doc = _run(name, [value, value * 1.01, value * 0.99]).to_dict()
        doc["schema_version"] = 1
        for scenario in doc["scenarios"]:
            for metric in scenario["metrics"].values():
                metric["ci95"] = [metric["median"], metric["median"]]  # v1's zero-width interval at small n
                for key in ("ci_coverage", "bound"):
                    metric.pop(key, None)
        path = tmp_path / name / "results.json"
        path.parent.mkdir()
        path.write_text(json.dumps(doc))
        paths.append(path)
    result = CliRunner().invoke(app, ["compare", *map(str, paths)])
    assert result.exit_code == 0, result.output
    assert "1.200" in result.output and "one run per side" in result.output


def test_holm_over_many_metrics_needs_more_runs_unless_the_gate_selects() -> None:
    def side(prefix: str, factor: float) -> list[RunResults]:
        runs = []
        for i, x in enumerate(BASE[:4]):
            scenario = ScenarioResult(
                name="api_latency",
                profile="optimized",
                metrics={
                    name: Metric.from_samples([x * factor], unit="ms", better="lower")
                    for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
                },
            )
            runs.append(RunResults(run_id=f"{prefix}{i}", pack="quick", status="complete", scenarios=[scenario]))
        return runs

    everything = decide(side("a", 1.0), side("b", 1.2))  # 4 vs 4: smallest p 0.029, x 3 > 0.05
    assert everything.outcome is GateOutcome.UNDECIDABLE
    assert "x 3 metrics (Holm)" in everything.reasons[0]
    selected = decide(side("a", 1.0), side("b", 1.2), metrics=["api_latency.latency_p95_ms"])
    assert selected.outcome is GateOutcome.REGRESSION and len(selected.comparisons) == 1
