"""The live-traffic windows of backup_time without a stack: which requests count, and when n is too small."""

from __future__ import annotations

import pytest

from harness.probe import Probe
from scenarios.backup_time import DEFAULTS, LiveWindow, _check_params, clip, live_ratio
from scenarios.base import ScenarioError


def probe(t: float, latency_s: float, status: int | None = 200) -> Probe:
    return Probe(index=0, path="/", scheduled=t, sent=t, latency_s=latency_s, status=status)


def test_a_window_holds_the_requests_scheduled_inside_its_spans_only() -> None:
    probes = [probe(i * 0.01, 0.005) for i in range(1000)]  # 0 .. 10 s, 100 per second
    window = LiveWindow.of(probes, [(1.0, 2.0), (3.0, 3.5)])
    assert window.requests == 150 and window.seconds == pytest.approx(1.5)
    assert window.failed == 0
    assert window.p95_ms == pytest.approx(5.0)


def test_failed_and_timed_out_requests_count_at_the_time_they_waited() -> None:
    fine = [probe(i * 0.01, 0.005) for i in range(90)]
    lost = [probe(0.9 + i * 0.01, 10.0, status=None) for i in range(10)]  # timed out after 10 s
    window = LiveWindow.of(fine + lost, [(0.0, 2.0)])
    assert window.requests == 100 and window.failed == 10
    assert window.p95_ms == pytest.approx(10_000.0)  # dropping them would have said 5 ms


def test_the_ratio_is_p95_during_over_p95_quiet() -> None:
    ratio, refused = live_ratio(LiveWindow(300, 0, 4.0, 2.0), LiveWindow(310, 2, 10.0, 2.1), 250, 100.0)
    assert refused is None and ratio == pytest.approx(2.5)


def test_a_window_with_too_few_requests_gives_no_ratio() -> None:
    ratio, refused = live_ratio(LiveWindow(300, 0, 4.0, 2.0), LiveWindow(22, 0, 40.0, 0.15), 250, 100.0)
    assert ratio is None
    assert refused is not None and "n too small" in refused and "backup window 22" in refused


def test_parameters_that_cannot_fill_a_window_are_refused_before_running() -> None:
    with pytest.raises(ScenarioError, match="n too small"):
        _check_params({**DEFAULTS, "live_rate_rps": 50.0, "live_s": 2.0, "min_window_requests": 250})
    # pooled over interleaved pairs of windows, the same rate and window length are enough
    _check_params({**DEFAULTS, "live_rate_rps": 50.0, "live_s": 2.0, "window_pairs": 3, "min_window_requests": 250})
    _check_params(DEFAULTS)  # the defaults fill their windows
    for name in ("backups_per_window", "window_pairs", "repetitions"):
        with pytest.raises(ScenarioError, match=name):
            _check_params({**DEFAULTS, name: 0})


def test_spans_are_cut_to_the_stretch_the_stream_covered() -> None:
    probes = [probe(1.0 + i * 0.01, 0.005) for i in range(100)]  # 1.00 .. 1.99 s
    assert clip([(0.5, 1.5), (1.8, 2.5), (3.0, 4.0)], probes, 0.01) == [(1.0, 1.5), (1.8, pytest.approx(2.0))]
    window = LiveWindow.of(probes, clip([(0.0, 5.0)], probes, 0.01))
    assert window.requests == 100 and window.seconds == pytest.approx(1.0)


def test_a_quiet_window_that_is_not_keeping_up_gives_no_ratio() -> None:
    backlogged = LiveWindow(300, 0, 6_000.0, 2.0, p50_ms=4_000.0)
    ratio, refused = live_ratio(backlogged, LiveWindow(310, 0, 7_000.0, 2.1, p50_ms=5_000.0), 250, 100.0)
    assert ratio is None and refused is not None and refused.startswith("overloaded")
    steady = LiveWindow(300, 0, 6.0, 2.0, p50_ms=3.0)
    assert live_ratio(steady, LiveWindow(310, 0, 12.0, 2.1, p50_ms=5.0), 250, 100.0) == (pytest.approx(2.0), None)


def test_a_machine_without_spare_cpu_in_the_quiet_windows_gives_no_ratio() -> None:
    quiet, during = LiveWindow(300, 0, 5.0, 2.0, p50_ms=3.0), LiveWindow(310, 0, 50.0, 2.1, p50_ms=9.0)
    ratio, refused = live_ratio(quiet, during, 250, 100.0, quiet_machine_cpu=85.0, max_machine_cpu=70.0)
    assert ratio is None and refused is not None and refused.startswith("busy machine") and "85 %" in refused
    assert live_ratio(quiet, during, 250, 100.0, quiet_machine_cpu=40.0, max_machine_cpu=70.0) == (
        pytest.approx(10.0),
        None,
    )
