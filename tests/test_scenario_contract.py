"""The scenario contract: declared metrics, republished samples, the one validity policy, and every file that
names a metric (packs, the rubric, the docs' metric table) checked against the declarations; every
`scenario.metric` named anywhere in README.md and docs/ is checked by tests/test_docs.py."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest

import harness.load.runner
from harness.load import ClosedPlan, LoadResult
from harness.load.result import EndpointResult
from harness.packs import PACKS_DIR, PackError, available_scenarios, declared_metrics, load_pack
from harness.results import ScenarioResult
from reports import rubric as rubric_mod
from scenarios.base import MetricSpec, Scenario, ScenarioContext, ScenarioError, UndeclaredMetric

ROOT = Path(__file__).resolve().parents[1]
SPECS = (
    MetricSpec("latency_p95_ms", "ms", "lower", "latency", "a percentile"),
    MetricSpec("throughput_rps", "req/s", "higher", "latency", "a rate"),
)


def bound_context(tmp_path: Path, run: Any = None) -> tuple[ScenarioContext, ScenarioResult, Scenario]:
    scenario = Scenario("toy", "a toy", run or (lambda ctx, params, result: None), metrics=SPECS)
    result = ScenarioResult(name="toy", profile="optimized")
    ctx = ScenarioContext("optimized", tmp_path, "http://127.0.0.1:9", log=lambda m: None)
    ctx.bind(scenario, result)
    return ctx, result, scenario


# declarations ---------------------------------------------------------------------------------------


def test_a_scenario_must_declare_its_metrics_once() -> None:
    with pytest.raises(ValueError, match="declare its metrics"):
        Scenario("toy", "a toy", lambda ctx, params, result: None)
    with pytest.raises(ValueError, match="declared twice: latency_p95_ms"):
        Scenario("toy", "a toy", lambda ctx, params, result: None, metrics=(SPECS[0], SPECS[0]))
    with pytest.raises(ValueError, match="one non-empty line"):
        MetricSpec("x", "ms", "lower", "latency", "two\nlines")
    with pytest.raises(ValueError, match="better"):
        MetricSpec("x", "ms", "smaller", "latency", "one line")  # type: ignore[arg-type]


def test_every_shipped_scenario_declares_metrics_with_known_directions() -> None:
    scenarios = available_scenarios()
    assert len(scenarios) >= 12
    for scenario in scenarios.values():
        assert scenario.metrics, scenario.name
        for spec in scenario.metrics:
            assert spec.better in ("lower", "higher", "none") and spec.unit and spec.meaning


# recording --------------------------------------------------------------------------------------------


def test_recording_an_undeclared_metric_is_an_error(tmp_path: Path) -> None:
    ctx, result, _ = bound_context(tmp_path)
    with pytest.raises(UndeclaredMetric, match=r"toy\.latency_p59_ms is not a declared metric.*latency_p95_ms"):
        ctx.record("latency_p59_ms", 1.0)
    assert result.metrics == {}


def test_every_sample_republishes_the_metric_with_the_declared_unit(tmp_path: Path) -> None:
    ctx, result, _ = bound_context(tmp_path)
    for i, value in enumerate([5.0, 7.0, 6.0], start=1):
        ctx.record("latency_p95_ms", value)
        metric = result.metrics["latency_p95_ms"]
        assert metric.n == i and metric.samples == [5.0, 7.0, 6.0][:i]
        assert (metric.unit, metric.better, metric.bound) == ("ms", "lower", "exact")
    ctx.record("throughput_rps", [100.0, None, float("nan"), 120.0])  # None / NaN are not samples
    assert result.metrics["throughput_rps"].samples == [100.0, 120.0]
    assert result.metrics["throughput_rps"].better == "higher"
    assert ctx.samples("latency_p95_ms") == [5.0, 7.0, 6.0]


def test_one_lower_bound_sample_makes_the_metric_a_lower_bound(tmp_path: Path) -> None:
    ctx, result, _ = bound_context(tmp_path)
    ctx.record("latency_p95_ms", 5.0)
    assert result.metrics["latency_p95_ms"].bound == "exact"
    ctx.record("latency_p95_ms", 9.0, bound="at_least")
    ctx.record("latency_p95_ms", 6.0)
    assert result.metrics["latency_p95_ms"].bound == "at_least"
    with pytest.raises(ValueError, match="both as at_least and as at_most"):
        ctx.record("latency_p95_ms", 1.0, bound="at_most")


def test_an_unbound_context_refuses_to_record(tmp_path: Path) -> None:
    ctx = ScenarioContext("optimized", tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ScenarioError, match=r"Scenario\.execute"):
        ctx.record("latency_p95_ms", 1.0)


def test_execute_drops_undeclared_metrics_published_behind_the_contract(tmp_path: Path) -> None:
    from harness.results import Metric

    def sneaky(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
        ctx.record("throughput_rps", 10.0)
        result.metrics["made_up"] = Metric.from_samples([1.0], unit="ms")

    scenario = Scenario("toy", "a toy", sneaky, metrics=SPECS)
    result = ScenarioResult(name="toy", profile="optimized")
    with pytest.raises(UndeclaredMetric, match="made_up"):
        scenario.execute(ScenarioContext("optimized", tmp_path, "http://x"), {}, result)
    assert set(result.metrics) == {"throughput_rps"}


# the validity policy ------------------------------------------------------------------------------------


def synthetic_load(valid: bool, limited_by: str | None, reason: str | None, lower_bound: bool = False) -> LoadResult:
    overall = EndpointResult(
        count=100,
        errors={},
        error_count=0,
        error_rate=0.0,
        throughput_rps=50.0,
        corrected={"p50_ms": 4.0, "p95_ms": 9.0, "p99_ms": 12.0},
        uncorrected={"p50_ms": 3.0, "p95_ms": 8.0, "p99_ms": 11.0},
        histograms={},
        lower_bound=lower_bound,
    )
    return LoadResult(
        model="open",
        target_url="http://x",
        plan={},
        workers=1,
        warmup_s=0.0,
        duration_s=2.0,
        overall=overall,
        endpoints={},
        timeseries={},
        validity={"limited_by": limited_by},
        valid=valid,
        invalid_reason=reason,
        window_epoch=[0.0, 2.0],
        lower_bound=lower_bound,
    )


@pytest.mark.parametrize(
    ("load", "status", "overloaded", "bound"),
    [
        (synthetic_load(True, None, None), "complete", False, "exact"),
        (synthetic_load(False, "generator", "generator CPU at 98 %"), "invalid", False, "exact"),
        (
            synthetic_load(False, "backlog", "every user busy: 40 % unsent", lower_bound=True),
            "complete",
            True,
            "at_least",
        ),
        (synthetic_load(True, None, None, lower_bound=True), "complete", True, "at_least"),
    ],
    ids=["valid", "generator-fault", "backlog", "lower-bound-flag"],
)
def test_one_validity_policy_for_every_load_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: LoadResult, status: str, overloaded: bool, bound: str
) -> None:
    monkeypatch.setattr(harness.load.runner, "run_load", lambda *args, **kwargs: load)
    ctx, result, _ = bound_context(tmp_path)
    phase = ctx.load_phase(ClosedPlan(users=1, duration_s=1.0), [], label="repetition 1")
    ctx.record("latency_p95_ms", phase.latency_ms("p95"), bound=phase.bound)
    assert result.status == status
    assert phase.bound == bound and result.metrics["latency_p95_ms"].bound == bound
    if status == "invalid":
        assert result.reason == "repetition 1: generator CPU at 98 %"
    assert ("overloaded" in result.details) is overloaded
    if overloaded:
        assert result.details["overloaded"]["reasons"][0].startswith("repetition 1: ")
        assert "lower bounds" in result.details["overloaded"]["note"]


def test_a_search_step_whose_generator_saturated_ends_the_search_without_invalidating_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = synthetic_load(False, "generator", "generator CPU at 98 %")
    monkeypatch.setattr(harness.load.runner, "run_load", lambda *args, **kwargs: load)
    ctx, result, _ = bound_context(tmp_path)
    phase = ctx.load_phase(ClosedPlan(users=1, duration_s=1.0), [], label="step 7", search_step=True)
    assert phase.fault == "generator CPU at 98 %"  # the search sees it (a lower bound) ...
    assert result.status == "complete"  # ... and the run stays valid, saying which step it was
    assert result.details["generator_limited"] == ["step 7: generator CPU at 98 %"]


# packs, the rubric and the docs against the declarations -------------------------------------------------


def test_a_pack_target_with_a_misspelt_metric_fails_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('[pack]\nname = "t"\n[scenarios.api_latency]\n[targets]\n"api_latency.latency_p59_ms" = 100\n')
    with pytest.raises(PackError) as error:
        load_pack(path)
    message = str(error.value)
    assert str(path) in message and "'targets.api_latency.latency_p59_ms'" in message
    assert "did you mean 'latency_p" in message


def test_a_rubric_with_a_misspelt_metric_fails_naming_file_and_key(tmp_path: Path) -> None:
    text = rubric_mod.DEFAULT_RUBRIC.read_text()
    for good, bad, key in [
        (
            '"api_latency.latency_p95_ms"]',
            '"api_latency.latency_p59_ms"]',
            "areas.latency.metrics.api_latency.latency_p59_ms",
        ),
        ('metric = "backup_time.restore_verified"', 'metric = "backup_time.restore_verifed"', "caps[0].metric"),
        ('"db_query.query_mean_ms"]', '"db_querry.query_mean_ms"]', "areas.database.metrics.db_querry.query_mean_ms"),
    ]:
        assert good in text
        path = tmp_path / "rubric.toml"
        path.write_text(text.replace(good, bad, 1))
        with pytest.raises(rubric_mod.RubricError) as error:
            rubric_mod.load(path)
        assert str(path) in str(error.value) and key in str(error.value), str(error.value)


def test_every_metric_named_by_a_pack_or_the_rubric_is_declared_in_its_area() -> None:
    declared = declared_metrics()
    for path in sorted(PACKS_DIR.glob("*.toml")):
        for key in load_pack(path).targets:
            assert key in declared, f"{path.name}: {key}"
    rubric = rubric_mod.load()
    for area in rubric.areas:
        for rule in area.metrics:
            assert declared[rule.key].area == area.key, f"{rule.key} is graded in {area.key}"
    assert all(cap.metric in declared for cap in rubric.caps)


def documented_in_tables(path: Path) -> dict[str, list[str]]:
    """scenario -> the metric names (possibly with `*`) in the "Metric names" section's table rows."""
    rows: dict[str, list[str]] = {}
    text = path.read_text()
    section = text[text.index("## Metric names") :]
    section = section[: section.find("\n## ", 4) if "\n## " in section[4:] else len(section)]
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)` \| (`[\w*]+`.*) \|$", line)
        if match:
            rows[match.group(1)] = re.findall(r"`([\w*]+)`", match.group(2))
    return rows


def test_the_docs_metric_table_matches_the_declarations() -> None:
    """docs/architecture.md's metric table names only declared metrics and documents every declared one."""
    table = documented_in_tables(ROOT / "docs" / "architecture.md")
    scenarios = available_scenarios()
    assert set(table) == set(scenarios), "one row per scenario"
    for name, patterns in table.items():
        declared = scenarios[name].metric_names
        for pattern in patterns:
            assert fnmatch.filter(declared, pattern), f"docs name {name}.{pattern}, which {name} does not declare"
        undocumented = [m for m in declared if not any(fnmatch.fnmatch(m, p) for p in patterns)]
        assert not undocumented, f"{name} declares undocumented metrics {undocumented}"


def test_ab_ratios_are_recorded_per_repetition_once_both_modes_ran(tmp_path: Path) -> None:
    from scenarios import connection_pooling

    result = ScenarioResult(name="connection_pooling", profile="optimized")
    ctx = ScenarioContext("optimized", tmp_path, "http://x", log=lambda m: None)
    ctx.bind(connection_pooling.SCENARIO, result)
    points: list[dict[str, Any]] = []
    order = [(0, "asyncpg", 100.0), (0, "pgbouncer", 80.0), (1, "pgbouncer", 90.0), (1, "asyncpg", 120.0)]
    for rep, mode, rps in order:
        points.append(
            {"mode": mode, "repetition": rep + 1, "throughput_rps": rps, "p95_ms": 5.0, "server_connections": 4}
        )
        connection_pooling.record(ctx, points, points[-1])
        if (rep, mode) == (1, "pgbouncer"):  # repetition 2 has one mode only: no new ratio yet
            assert result.metrics["pgbouncer_throughput_ratio"].samples == [0.8]
    assert result.metrics["pgbouncer_throughput_ratio"].samples == [0.8, 0.75]
    assert result.metrics["rps_asyncpg"].samples == [100.0, 120.0]
    assert result.metrics["server_connections_pgbouncer"].better == "none"
