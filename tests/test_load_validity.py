"""The validity rules of a load phase, on raw results whose figures are set by the test."""

from __future__ import annotations

from typing import Any

from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.recorder import Recorder, record_us
from harness.load.result import LoadResult, build_result
from harness.load.spec import LoadSpec


def raw(recorder: Recorder, cpu: list[float], cpu_warning: bool = False) -> dict[str, Any]:
    return {
        "recorder": recorder.to_dict(),
        "processes": [
            {
                "role": "local",
                "index": 0,
                "recorded": recorder.overall().count,
                "seen": recorder.overall().count,
                "window_epoch": [100.0, 104.0],
                "cpu_warning": cpu_warning,
                "cpu_percent": {"unit": "%", "t": [float(i) for i in range(len(cpu))], "v": cpu},
            }
        ],
    }


def open_recorder(lag_ms: float = 1.0, loop_lag_ms: float = 0.5, unsent: int = 0) -> Recorder:
    recorder = Recorder()
    recorder.scheduled = 400
    for _ in range(unsent):
        recorder.record_unfinished("ping", "unsent", corrected_us=5_000_000)
    for i in range(400 - unsent):
        recorder.record("ping", second=i // 100, uncorrected_us=2000, corrected_us=2000 + lag_ms * 1000, error=None)
        record_us(recorder.schedule_lag, lag_ms * 1000)
        record_us(recorder.dispatch_lag, 500)
    for _ in range(400):
        record_us(recorder.loop_lag, loop_lag_ms * 1000)
    return recorder


SPEC = LoadSpec("http://127.0.0.1:1", OpenPlan.constant(100, 4.0, users=8), endpoints=(Endpoint("/p"),))


def test_a_clean_open_run_is_valid() -> None:
    result = build_result(raw(open_recorder(), cpu=[30.0] * 5), SPEC)
    assert result.valid and result.invalid_reason is None and result.validity["limited_by"] is None
    assert not result.lower_bound and not result.overall.lower_bound
    assert result.overall.throughput_rps == 100.0
    assert result.window_epoch == [100.0, 104.0]
    assert LoadResult.from_dict(result.to_dict()) == result


def test_a_saturated_generator_is_invalid() -> None:
    result = build_result(raw(open_recorder(), cpu=[95.0, 97.0, 98.0, 96.0, 97.0]), SPEC)
    assert not result.valid and result.validity["limited_by"] == "generator"
    assert "saturated" in (result.invalid_reason or "") and "97 %" in (result.invalid_reason or "")
    warned = build_result(raw(open_recorder(), cpu=[50.0] * 5, cpu_warning=True), SPEC)
    assert not warned.valid and "CPU warning" in (warned.invalid_reason or "")


def test_a_generator_short_of_cpu_is_invalid() -> None:
    result = build_result(raw(open_recorder(loop_lag_ms=80), cpu=[40.0] * 5), SPEC)
    assert not result.valid and result.validity["limited_by"] == "generator"
    assert "event loop" in (result.invalid_reason or "")


def test_sends_behind_schedule_are_invalid() -> None:
    result = build_result(raw(open_recorder(lag_ms=200, unsent=40), cpu=[40.0] * 5), SPEC)
    assert not result.valid and result.validity["limited_by"] == "backlog"
    assert "median lag 200" in (result.invalid_reason or "")
    assert "40 of 400 scheduled requests were never sent and 0 unanswered" in (result.invalid_reason or "")
    assert result.lower_bound and result.overall.lower_bound and result.endpoints["ping"].lower_bound
    assert result.overall.unsent == 40 and result.validity["backlogged"]


def test_closed_runs_have_no_schedule_checks() -> None:
    recorder = Recorder()
    for _ in range(10):
        recorder.record("ping", second=0, uncorrected_us=1000, corrected_us=None, error=None)
    spec = LoadSpec("http://127.0.0.1:1", ClosedPlan(users=2, duration_s=1.0), endpoints=(Endpoint("/p"),))
    result = build_result(raw(recorder, cpu=[10.0, 10.0]), spec)
    assert result.valid and "scheduled" not in result.validity
    assert result.overall.corrected is None and result.overall.latency_ms("p50") == 1.0
    empty = build_result(raw(Recorder(), cpu=[10.0, 10.0]), spec)
    assert not empty.valid and "no request completed" in (empty.invalid_reason or "")
