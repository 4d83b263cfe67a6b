"""harness.gate: exit codes, interleaving, pooling, JUnit XML and the `athbench gate` command."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from harness.cli import app
from harness.compare import CompareSettings
from harness.gate import GateOutcome, decide, gate_interleaved, merge_runs, run_interleaved, to_junit_xml, to_markdown
from harness.results import Metric, RunResults, ScenarioResult, save


def _run(run_id: str, samples: list[float], status: str = "complete", better: str = "lower") -> RunResults:
    scenario = ScenarioResult(
        name="api_latency",
        profile="optimized",
        metrics={"latency_p95_ms": Metric.from_samples(samples, unit="ms", better=better)},  # type: ignore[arg-type]
    )
    reason = "load generator saturated" if status == "invalid" else None
    return RunResults(
        run_id=run_id,
        pack="quick",
        status=status,
        status_reason=reason,
        environment={"git_commit": f"{run_id}0000"},
        scenarios=[scenario],
    )


BASE = [10.0, 10.2, 9.9, 10.1, 10.05, 9.95]
SAME = [10.1, 9.9, 10.0, 10.15, 9.92, 10.08]
SLOWER = [11.0, 11.2, 10.9, 11.1, 11.05, 10.95]


def test_pass_regression_undecidable() -> None:
    assert decide(_run("a", BASE), _run("b", SAME)).outcome is GateOutcome.PASS
    regressed = decide(_run("a", BASE), _run("b", SLOWER))
    assert regressed.outcome is GateOutcome.REGRESSION and regressed.exit_code == 1
    assert decide(_run("a", BASE[:3]), _run("b", SLOWER[:3])).outcome is GateOutcome.UNDECIDABLE  # too few reps
    invalid = decide(_run("a", BASE), _run("b", SLOWER, status="invalid"))
    assert invalid.outcome is GateOutcome.UNDECIDABLE and "load generator saturated" in invalid.reasons[0]
    missing = decide(_run("a", BASE), _run("b", SAME), metrics=["api_latency.throughput_rps"])
    assert missing.outcome is GateOutcome.UNDECIDABLE


def test_threshold_decides_small_significant_changes() -> None:
    slightly = [x * 1.03 for x in BASE]
    assert decide(_run("a", BASE), _run("b", slightly)).outcome is GateOutcome.PASS
    strict = CompareSettings(threshold=1.02)
    assert decide(_run("a", BASE), _run("b", slightly), strict).outcome is GateOutcome.REGRESSION


def test_junit_and_markdown() -> None:
    decision = decide(_run("a", BASE), _run("b", SLOWER))
    suite = ET.fromstring(to_junit_xml(decision))
    assert suite.get("failures") == "1" and suite.get("tests") == "3"
    assert suite.find("testcase/failure") is not None
    assert "REGRESSION (exit 1)" in to_markdown(decision)


def test_interleaving_order_and_pooling() -> None:
    labels: list[str] = []

    def run_once(label: str) -> RunResults:
        labels.append(label)
        return _run(f"{label}{len(labels)}", [float(len(labels))])

    base_runs, cand_runs = run_interleaved(run_once, 3)
    assert [r.run_id for r in cand_runs] == ["candidate2", "candidate4", "candidate6"]
    assert labels == ["baseline", "candidate"] * 3
    merged = merge_runs(base_runs, "pooled")
    assert merged.scenarios[0].metrics["latency_p95_ms"].samples == [1.0, 3.0, 5.0]
    assert merged.environment["merged_runs"] == ["baseline1", "baseline3", "baseline5"]
    merged_bad = merge_runs([*base_runs, _run("x", [1.0], status="invalid")], "pooled")
    assert merged_bad.status == "invalid" and "saturated" in (merged_bad.status_reason or "")


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


def test_gate_command_exit_codes_and_outputs(tmp_path: Path) -> None:
    runner = CliRunner()
    base = save(_run("a", BASE), tmp_path / "a" / "results.json")
    same = save(_run("b", SAME), tmp_path / "b" / "results.json")
    slower = save(_run("c", SLOWER), tmp_path / "c" / "results.json")
    invalid = save(_run("d", SAME, status="invalid"), tmp_path / "d" / "results.json")
    junit, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    args = ["gate", "--baseline", str(base), "--junit", str(junit), "--summary", str(summary), "--candidate"]
    assert runner.invoke(app, [*args, str(same)]).exit_code == 0
    assert runner.invoke(app, [*args, str(slower)]).exit_code == 1
    assert ET.parse(junit).getroot().get("failures") == "1"
    assert "REGRESSION" in summary.read_text()
    assert runner.invoke(app, [*args, str(invalid)]).exit_code == 2
    result = runner.invoke(app, [*args, str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "no such results file" in result.output
    result = runner.invoke(app, ["gate", "--baseline", str(base)])
    assert result.exit_code == 2 and "--pack to run both sides" in " ".join(result.output.split())


def test_compare_command_prints_table_and_markdown(tmp_path: Path) -> None:
    base = save(_run("a", BASE), tmp_path / "a.json")
    slower = save(_run("c", SLOWER), tmp_path / "c.json")
    markdown = tmp_path / "compare.md"
    result = CliRunner().invoke(app, ["compare", str(base), str(slower), "--markdown", str(markdown)])
    assert result.exit_code == 0, result.output
    assert "c vs a" in result.output
    assert "| api_latency.latency_p95_ms [optimized] | ms | lower |" in markdown.read_text()
    assert "| regression |" in markdown.read_text()


def test_holm_over_many_metrics_needs_more_repetitions_unless_the_gate_selects() -> None:
    def run(run_id: str, factor: float) -> RunResults:
        scenario = ScenarioResult(
            name="api_latency",
            profile="optimized",
            metrics={
                name: Metric.from_samples([x * factor for x in BASE[:4]], unit="ms", better="lower")
                for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
            },
        )
        return RunResults(run_id=run_id, pack="quick", status="complete", scenarios=[scenario])

    everything = decide(run("a", 1.0), run("b", 1.2))  # 4 vs 4: smallest p 0.029, x 3 > 0.05
    assert everything.outcome is GateOutcome.UNDECIDABLE
    assert "x 3 metrics (Holm)" in everything.reasons[0]
    selected = decide(run("a", 1.0), run("b", 1.2), metrics=["api_latency.latency_p95_ms"])
    assert selected.outcome is GateOutcome.REGRESSION and len(selected.comparisons) == 1
