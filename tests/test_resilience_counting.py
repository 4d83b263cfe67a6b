"""resilience_faults' figures from a known set of requests (no stack): every request counts, once, where
it was scheduled; hung is slow or timed out, not merely failed; a generator that fell behind invalidates."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.probe import Probe
from scenarios.base import ScenarioContext, ScenarioResult
from scenarios.resilience_faults import DEFAULTS, SCENARIO, BreakerLog, FaultWindow, _summarize

# 0-2 s normal, 2-4 s fault, 4-8 s recovery; 100 requests per second
WINDOW = FaultWindow("postgres_paused", normal_from=0.0, injected=2.0, cleared=4.0, observed_until=8.0)


def probe(t: float, status: int | None = 200, latency_s: float = 0.01, error: str | None = None) -> Probe:
    return Probe(index=0, path="/", scheduled=t, sent=t, latency_s=latency_s, status=status, error=error)


def stream(during: list[Probe] | None = None, sent_late_s: float = 0.0) -> list[Probe]:
    """800 requests over 8 s, fine except those replaced by `during` (scheduled inside the fault)."""
    probes = [probe(i * 0.01) for i in range(800) if not 2.0 <= i * 0.01 < 4.0]
    probes += during or [probe(2.0 + i * 0.01) for i in range(200)]
    for p in probes:
        p.sent = p.scheduled + sent_late_s
    return sorted(probes, key=lambda p: p.scheduled)


def summarize(probes: list[Probe], tmp_path: Path, **params: float) -> ScenarioResult:
    result = ScenarioResult(name=SCENARIO.name, profile="optimized", params={**DEFAULTS, **params})
    ctx = ScenarioContext(profile="optimized", out_dir=tmp_path, target_url="http://127.0.0.1:9")
    ctx.bind(SCENARIO, result)
    _summarize(ctx, result, {**DEFAULTS, **params}, probes, [WINDOW], BreakerLog(), {})
    return result


def test_failed_hung_and_timed_out_requests_all_count(tmp_path: Path) -> None:
    during = (
        [probe(2.0 + i * 0.01, status=503) for i in range(50)]  # fast 5xx: unavailable, not hung
        + [probe(2.5 + i * 0.01, status=None, latency_s=0.002, error="ConnectError") for i in range(30)]  # refused
        + [probe(2.8 + i * 0.01, status=None, latency_s=15.0, error="timeout") for i in range(40)]  # timed out
        + [probe(3.2 + i * 0.01, status=200, latency_s=6.0) for i in range(20)]  # answered, after the hang limit
        + [probe(3.4 + i * 0.01) for i in range(60)]
    )
    result = summarize(stream(during), tmp_path, hang_threshold_s=5.0)
    m = result.metrics
    assert m["availability"].median == pytest.approx((800 - 140) / 800)
    assert m["fault_error_rate"].median == pytest.approx(140 / 200)
    assert m["hung_requests"].median == 60  # the timed-out and the too-slow, not the fast failures
    (fault,) = result.details["faults"]
    assert fault["requests"] == 200 and fault["hung_requests"] == 60
    # the percentiles hold the timed-out requests at the time they waited, not only the answered ones
    assert fault["latency_p95_ms"] == pytest.approx(15_000.0)
    assert result.status != "invalid"


def test_an_unrecovered_fault_makes_recovery_a_lower_bound(tmp_path: Path) -> None:
    broken = [p for p in stream() if p.scheduled < 4.0] + [probe(4.0 + i * 0.01, status=503) for i in range(400)]
    m = summarize(broken, tmp_path).metrics
    assert m["recovery_time_s"].median == pytest.approx(4.0)
    assert m["recovery_time_s"].bound == "at_least"
    healthy = summarize(stream(), tmp_path).metrics
    assert healthy["recovery_time_s"].bound == "exact"


def test_a_generator_behind_its_schedule_invalidates_the_run(tmp_path: Path) -> None:
    assert summarize(stream(sent_late_s=0.5), tmp_path, lag_tolerance_ms=100.0).status == "invalid"
    assert summarize(stream(sent_late_s=0.01), tmp_path, lag_tolerance_ms=100.0).status != "invalid"
