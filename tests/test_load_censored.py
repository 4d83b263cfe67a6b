"""Every request counts: unsent, incomplete and timed-out requests in the corrected histogram at their
lower bound, and percentiles they can pull down marked as lower bounds (synthetic recorders)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.recorder import Recorder, record_us, summarize
from harness.load.result import build_result
from harness.load.spec import LoadSpec

SPEC = LoadSpec("http://127.0.0.1:1", OpenPlan.constant(1000, 10.0, users=50), endpoints=(Endpoint("/p"),))


def raw(recorder: Recorder) -> dict[str, Any]:
    return {
        "recorder": recorder.to_dict(),
        "processes": [
            {
                "role": "local",
                "index": 0,
                "recorded": recorder.overall().count,
                "seen": recorder.overall().count,
                "window_epoch": [100.0, 110.0],
                "cpu_warning": False,
                "cpu_percent": {"unit": "%", "t": [float(i) for i in range(11)], "v": [30.0] * 11},
            }
        ],
    }


def answered(recorder: Recorder, n: int, ms: float = 10.0) -> None:
    for i in range(n):
        recorder.record("ping", second=i % 10, uncorrected_us=ms * 1000, corrected_us=ms * 1000, error=None)
        record_us(recorder.schedule_lag, 100)
        record_us(recorder.dispatch_lag, 100)
        record_us(recorder.loop_lag, 100)


def test_unsent_and_incomplete_no_longer_hide_the_tail() -> None:
    """The issue's case: 190 unsent and 150 incomplete of 10,000 used to report p99 10 ms, valid."""
    recorder = Recorder()
    recorder.scheduled = 10_000
    answered(recorder, 10_000 - 190 - 150)
    for i in range(190):  # due in the last seconds of the window, drain 5 s: waited 5-7 s
        recorder.record_unfinished("ping", "unsent", corrected_us=5_000_000 + i * 10_000)
    for i in range(150):
        recorder.record_unfinished("ping", "incomplete", corrected_us=5_000_000 + i * 10_000)
    result = build_result(raw(recorder), SPEC)
    overall = result.overall
    assert overall.uncorrected is not None and overall.uncorrected["p99_ms"] == pytest.approx(10.0, rel=0.01)
    assert overall.latency_ms("p99") >= 5000.0  # 3.4 % of the schedule waited at least 5 s
    assert overall.latency_ms("p95") == pytest.approx(10.0, rel=0.01)  # below them: still exact in value
    assert (overall.unsent, overall.incomplete, overall.count) == (190, 150, 9660)
    assert result.validity["unfinished_fraction"] == pytest.approx(0.034)
    assert not result.valid and result.validity["limited_by"] == "backlog"
    assert result.lower_bound and overall.lower_bound and result.endpoints["ping"].lower_bound
    assert "190 of 10000 scheduled requests were never sent and 150 unanswered" in (result.invalid_reason or "")


def test_few_unfinished_requests_count_but_do_not_make_the_phase_backlogged() -> None:
    recorder = Recorder()
    recorder.scheduled = 10_000
    answered(recorder, 9_995)
    for _ in range(5):
        recorder.record_unfinished("ping", "incomplete", corrected_us=6_000_000)
    result = build_result(raw(recorder), SPEC)
    assert result.valid and not result.validity["backlogged"]
    assert result.overall.corrected is not None and result.overall.corrected["max_ms"] == pytest.approx(6000, rel=0.01)
    assert not result.lower_bound  # 5 of 10,000 at >= 6 s: every reported percentile (to p99.9) lies below them


@pytest.mark.parametrize(("timed_out", "lower_bound"), [(5, False), (20, True)])
def test_timeouts_mark_only_the_percentiles_they_reach(timed_out: int, lower_bound: bool) -> None:
    recorder = Recorder()
    recorder.scheduled = 10_000
    answered(recorder, 10_000 - timed_out)
    for _ in range(timed_out):
        recorder.record("ping", second=3, uncorrected_us=None, corrected_us=10_000_000, error="timeout", timed_out=True)
    result = build_result(raw(recorder), SPEC)
    overall = result.overall
    assert overall.timed_out == result.validity["timed_out"] == overall.errors["timeout"] == timed_out
    assert overall.uncorrected is not None and overall.uncorrected["max_ms"] == pytest.approx(10.0, rel=0.01)
    assert overall.corrected is not None and overall.corrected["max_ms"] == pytest.approx(10_000, rel=0.01)
    # 20 of 10,000 reach p99.9 (rank 9,990): it is a timeout's lower bound; 5 do not reach it
    assert overall.corrected["p999_ms"] == pytest.approx(10_000 if lower_bound else 10.0, rel=0.01)
    assert overall.lower_bound is lower_bound and result.lower_bound is lower_bound
    assert result.valid  # timeouts are errors, not a backlog


def test_censored_counts_and_minimum_merge_exactly() -> None:
    parts = []
    for worker in range(2):
        recorder = Recorder()
        answered(recorder, 100)
        recorder.record_unfinished("ping", "unsent", corrected_us=2_000_000 + worker)
        recorder.record_unfinished("ping", "incomplete", corrected_us=3_000_000)
        recorder.record(
            "ping", second=0, uncorrected_us=None, corrected_us=1_500_000 - worker, error="timeout", timed_out=True
        )
        parts.append(recorder)
    merged = Recorder()
    for part in parts:
        merged.merge(Recorder.from_dict(part.to_dict()))
    ping = merged.endpoints["ping"]
    assert (ping.unsent, ping.incomplete, ping.timed_out, ping.count) == (2, 2, 2, 202)
    assert (merged.unsent, merged.incomplete) == (2, 2)
    assert ping.corrected.get_total_count() == 200 + 2 + 2 + 2
    assert ping.uncorrected.get_total_count() == 200  # the record of answered requests
    assert ping.censored_min_us == 1_499_999
    assert summarize(ping.corrected)["max_ms"] == pytest.approx(3000, rel=0.001)  # type: ignore[index]


def test_closed_model_percentiles_are_lower_bounds_when_requests_are_missing() -> None:
    spec = LoadSpec("http://127.0.0.1:1", ClosedPlan(users=2, duration_s=10.0), endpoints=(Endpoint("/p"),))
    recorder = Recorder()
    for _ in range(100):
        recorder.record("ping", second=0, uncorrected_us=1000, corrected_us=None, error=None)
    clean = build_result(raw(recorder), spec)
    assert not clean.lower_bound
    recorder.record("ping", second=0, uncorrected_us=None, corrected_us=None, error="timeout", timed_out=True)
    missing = build_result(raw(recorder), spec)
    assert missing.overall.timed_out == 1 and missing.lower_bound and missing.overall.lower_bound
    assert missing.overall.corrected is None
