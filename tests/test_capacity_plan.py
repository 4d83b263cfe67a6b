"""The capacity plan follows its inputs, states what it cannot derive, and the exports carry its numbers."""

from __future__ import annotations

import math

import pytest
import yaml
from reports_fixtures import build_run

from harness.cache_sim import lru_curve, lru_hit_ratio, size_for_hit_ratio, zipf_trace
from harness.exports import kubernetes, prometheus_rules, sizing
from harness.results import Metric, RunResults, ScenarioResult, TimeSeries
from reports.capacity_plan import PlanError, Target, pgtune, plan, pods_needed
from reports.render import build, render_html, render_markdown


def _run(repetitions: int = 3) -> RunResults:
    return build_run(profiles=("optimized",), repetitions=repetitions)


def _scale(run: RunResults, scenario: str, metric: str, factor: float) -> None:
    found = run.scenario(scenario, "optimized")
    m = found.metrics[metric]
    found.metrics[metric] = Metric.from_samples([x * factor for x in m.samples], m.unit, m.better)


def _with_usl(run: RunResults, sigma: float, kappa: float, cpus: int = 8) -> RunResults:
    """horizontal_scaling's fit over 1-4 workers, measured on a machine of `cpus` cores."""
    usl = {"lambda": 100.0, "sigma": sigma, "kappa": kappa, "ci95": None, "ci_note": "too few levels"}
    points = [{"workers": n, "processes": n + 1} for n in (1, 2, 3, 4)]
    details = {"usl": usl, "points": points, "machine": {"cpus": cpus}}
    run.scenarios.append(ScenarioResult("horizontal_scaling", "optimized", details=details))
    return run


def test_lru_curve_equals_a_direct_lru_simulation() -> None:
    trace = zipf_trace(list(range(2000)), 12_000, 1.0, seed=5)
    for warmup in (0, 3000):
        curve = lru_curve(trace, warmup)
        assert len(curve) == len(set(trace))
        for size in (1, 7, 50, 333, 1200, len(curve)):
            assert curve[size - 1] == pytest.approx(lru_hit_ratio(trace, size, warmup), abs=1e-12)
    curve = lru_curve(trace)
    size = size_for_hit_ratio(curve, 0.5)
    assert size is not None and curve[size - 1] >= 0.5 > curve[size - 2]
    assert size_for_hit_ratio(curve, 0.9999) is None  # compulsory misses cap the curve


def test_doubling_measured_rss_doubles_the_memory_request_and_limit() -> None:
    run = _run()
    before = plan(run, "optimized")
    series = run.scenario("api_latency", "optimized").timeseries["service_rss_mb"]
    run.scenario("api_latency", "optimized").timeseries["service_rss_mb"] = TimeSeries(
        "MB", series.t, [2 * v for v in series.v]
    )
    after = plan(run, "optimized")
    assert after.value("memory_request") == pytest.approx(2 * before.value("memory_request"), abs=1)
    assert after.value("memory_limit") == pytest.approx(2 * before.value("memory_limit"), abs=1)
    assert before.value("memory_limit") == math.ceil(max(series.v) * 1.5)


def test_a_lower_usl_peak_needs_more_pods() -> None:
    target = Target(rps=3000)
    linear = plan(_run(), "optimized", target).value("pods")
    gentle = plan(_with_usl(_run(), 0.02, 0.0005), "optimized", target).value("pods")
    steep = plan(_with_usl(_run(), 0.02, 0.001), "optimized", target).value("pods")
    assert linear < gentle < steep
    cap = _run().scenario("capacity", "optimized").metrics["max_sustainable_rps"].median
    assert linear == math.ceil(3000 / (cap * 0.7)) + 1  # linear S(N) = N, 70 % utilization, one spare


def test_a_fit_over_more_workers_than_cores_is_not_used_for_pods() -> None:
    """On 2 cores shared with the generator and the database, 4 workers measure that machine's contention:
    the plan assumes linear scaling and says why, instead of "not reachable by adding pods"."""
    target = Target(rps=3000)
    crowded = plan(_with_usl(_run(), 0.5, 0.05, cpus=2), "optimized", target).figure("pods")
    assert crowded.value == plan(_run(), "optimized", target).value("pods")
    assert any("up to 4 workers on 2 cores" in line for line in crowded.inputs), crowded.inputs
    assert "S(N) = N assumed" in crowded.rule


def test_a_target_the_usl_peak_cannot_reach_is_said_so() -> None:
    unreachable = plan(_with_usl(_run(), 0.5, 0.05), "optimized")
    pods = unreachable.figure("pods")
    assert pods.value is None and "not reachable" in pods.uncertainty
    assert unreachable.value("pool") is None and "no pod count" in unreachable.figure("pool").uncertainty
    assert pods_needed(100, 1000, 0.7, sigma=0.0, kappa=0.0) == 15


def test_a_longer_query_time_needs_a_bigger_pool_and_more_connections() -> None:
    short = plan(_run(), "optimized")
    run = _run()
    _scale(run, "db_query", "query_mean_ms", 4.0)
    long = plan(run, "optimized")
    assert long.value("pool") > short.value("pool")
    assert long.value("max_connections") > short.value("max_connections")
    assert short.value("max_connections") == (short.value("pods") + 1) * short.value("pool") + 13


def test_the_littles_law_hold_time_is_preferred_when_recorded() -> None:
    run = _run()
    run.scenario("db_query", "optimized").details["pool"] = {"db_seconds_per_request": 0.2}
    p = plan(run, "optimized")
    rate = 500 / (p.value("pods") - 1)
    load = rate * 0.2
    assert p.value("pool") == math.ceil(load + 2 * math.sqrt(load))
    assert "db_seconds_per_request" in p.figure("pool").inputs[1]


def test_intervals_propagate_at_n_6_and_are_refused_below() -> None:
    small = plan(_run(3), "optimized").figure("pods")
    assert small.low is None and "n too small" in small.uncertainty
    wide = plan(_run(6), "optimized")
    pods = wide.figure("pods")
    assert pods.low is not None and pods.low <= pods.value <= pods.high
    hours = wide.figure("backup_hours")
    assert hours.extrapolated and hours.low <= hours.value <= hours.high and "RPO" in hours.uncertainty


def test_redis_maxmemory_reads_the_curve_and_the_measured_bytes_per_key() -> None:
    run = _run()
    reps = [
        {"lru_curve": [[1, 0.1], [10, 0.5], [100, 0.8], [200, 0.9]], "redis_bytes_per_key": {"bytes_per_key": 1000}}
    ]
    run.scenario("cache_hit_ratio", "optimized").details["repetitions"] = reps
    fig = plan(run, "optimized").figure("redis_maxmemory")
    assert fig.value == pytest.approx(150 * 1000 * 1.2 / 1e6, rel=0.01)  # 0.85 interpolated at 150 entries
    reps[0]["redis_bytes_per_key"] = {"bytes_per_key": None, "note": "no cache:* keys in Redis"}
    missing = plan(run, "optimized").figure("redis_maxmemory")
    assert missing.value is None and "no cache:* keys" in missing.uncertainty
    unreachable = plan(run, "optimized", Target(hit_ratio=0.95)).figure("redis_maxmemory")
    assert unreachable.value is None and "unreachable" in unreachable.uncertainty


def test_pgtune_rules_match_pgtunes_published_example() -> None:
    # pgtune, web, 16 GB, 4 CPUs, 100 connections: shared_buffers 4GB, effective_cache_size 12GB,
    # maintenance_work_mem 1GB, work_mem 20971kB, wal_buffers 16MB
    s = pgtune(16 * 1024**3, 4, 100)
    assert s["shared_buffers"] == 4 * 1024**3 and s["effective_cache_size"] == 12 * 1024**3
    assert s["maintenance_work_mem"] == 1024**3 and s["wal_buffers"] == 16 * 1024**2
    assert int(s["work_mem"] / 1024) == 20971
    run = _run()
    run.environment["memory_gb"] = 8
    assert plan(run, "optimized").value("pg_shared_buffers") == 2048


def test_bad_plan_targets_are_refused_with_the_key() -> None:
    with pytest.raises(PlanError, match=r"plan\.rpss: not a plan key"):
        Target.from_dict({"rpss": 500})
    with pytest.raises(PlanError, match=r"plan\.hit_ratio"):
        Target.from_dict({"hit_ratio": 85})
    run = _run()
    run.environment["plan_target"] = {"rps": 1000}
    assert plan(run, "optimized").target.rps == 1000


def test_exports_carry_the_plans_numbers() -> None:
    run = _with_usl(_run(), 0.02, 0.0005)
    run.environment["memory_gb"] = 8
    p = plan(run, "optimized")
    numbers = sizing(p, "capacity plan of the fixture")
    deployment = next(iter(yaml.safe_load_all(kubernetes(sizing=numbers))))
    spec = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == p.value("pods")
    assert spec["resources"] == {
        "requests": {"memory": f"{p.value('memory_request')}Mi", "cpu": f"{p.value('cpu_request')}m"},
        "limits": {"memory": f"{p.value('memory_limit')}Mi", "cpu": f"{p.value('cpu_limit')}m"},
    }
    assert {"name": "ATHBENCH_DB_POOL_SIZE", "value": str(p.value("pool"))} in spec["env"]
    rules = {r["alert"]: r for r in yaml.safe_load(prometheus_rules(numbers))["groups"][0]["rules"]}
    memory = next(a for a in p.alerts if a.name == "HighMemory")
    assert rules["HighMemory"]["expr"].endswith(f"> {int(memory.threshold)}")
    assert rules["ErrorBudgetBurn1h"]["expr"].count("> 0.0144") == 2
    assert {a.name for a in p.alerts} <= set(rules)


def test_the_report_shows_the_plan_and_monitoring_sections_in_both_formats() -> None:
    report = build(_run(), with_charts=False)
    md, html = render_markdown(report), render_html(report)
    pods = report.plans["optimized"].figure("pods").text
    for text in (md, html):
        assert "apacity" in text and "ErrorBudgetBurn6h" in text and pods in text and "pgtune" in text
    assert "### Capacity plan" in md and "### Monitoring" in md
    assert 'id="capacity-plan"' in html and 'id="monitoring"' in html
