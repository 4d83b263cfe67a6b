"""Scoring a results file (`reports.grading`): read, validate and grade every rubric area."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks import skip_if_missing

try:
    from harness.results import Metric, RunResults, ScenarioResult, read, save
    from reports.grading import grade_run
    from reports.rubric import load as load_rubric

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc


def rubric_results(path: Path) -> Path:
    """A results file with three samples, at the rubric's "good" control point, for every graded metric.

    These are benchmark inputs (what grading reads), not measurements.
    """
    scenarios: dict[str, ScenarioResult] = {}
    for area in load_rubric().areas:
        for rule in area.metrics:
            better = "lower" if rule.good < rule.poor else "higher"
            samples = [rule.good * f for f in (0.98, 1.0, 1.02)]
            scenario = scenarios.setdefault(rule.scenario, ScenarioResult(name=rule.scenario, profile="optimized"))
            scenario.metrics[rule.metric] = Metric.from_samples(samples, unit="", better=better)
    run = RunResults(run_id="bench-scoring", pack="release", status="complete", scenarios=list(scenarios.values()))
    return save(run, path)


class ScoringSuite:
    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.directory = Path(tempfile.mkdtemp(prefix="athbench-asv-scoring-"))
        self.path = rubric_results(self.directory / "results.json")

    def teardown(self) -> None:
        if MISSING is None:  # asv tears down after a skipped setup too
            shutil.rmtree(self.directory, ignore_errors=True)

    def time_read_and_grade_results_file(self) -> None:
        grade_run(read(self.path))
