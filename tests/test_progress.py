"""Progress: plain timestamped lines for logs, a live bar on a terminal, the pack's ETA, real emitters."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console

from harness.eta import SCENARIO_OVERHEAD_S, expected_seconds, remaining_s
from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.runner import run_load
from harness.packs import Pack, PackEntry
from harness.processes import free_port
from harness.progress import PACK, PlainProgress, RichProgress, Update, counter, reporting, timed
from harness.runner import RunOptions, run_pack
from scenarios.base import MetricSpec, Scenario


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain(clock: FakeClock) -> tuple[PlainProgress, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    return PlainProgress(console, clock=clock, wall=lambda: datetime(2026, 11, 30, 18, 2, 11)), out


def test_plain_lines_are_timestamped_with_i_of_n_eta_and_rate_bounded() -> None:
    clock = FakeClock()
    renderer, out = plain(clock)
    renderer(Update(PACK, "[3/9] api_latency/optimized", 2.0, 9.0, unit="scenarios", eta_s=240.0))
    for second in range(31):  # a 30 s load phase ticking every 0.5 s
        clock.now = second
        renderer(Update("load phase", "load phase (open model)", float(second), 30.0))
        clock.now = second + 0.5
        renderer(Update("load phase", "load phase (open model)", second + 0.5, 30.0))
    renderer(Update("load phase", "load phase (open model)", 30.0, 30.0, finished=True))
    lines = out.getvalue().splitlines()
    assert lines[0] == "18:02:11 [3/9] api_latency/optimized starts, ETA 4 min"
    phase = lines[1:]
    assert phase[0] == "18:02:11 [3/9] api_latency/optimized: load phase (open model) 0 s of 30 s, 30 s left"
    assert phase[1].endswith("10 s of 30 s, 20 s left")
    assert len(phase) == 4  # 62 updates over 30 s: one line at 0, 10, 20 and 30 s


def test_plain_shows_nothing_for_a_short_step_and_extrapolates_counted_ones() -> None:
    clock = FakeClock()
    renderer, out = plain(clock)
    renderer(Update("load phase", "short", 0.0, 1.0))
    clock.now = 1.0
    renderer(Update("load phase", "short", 1.0, 1.0, finished=True))
    assert out.getvalue() == ""
    clock.now = 10.0
    renderer(Update("seeding", "seeding properties", 0.0, 1000.0, unit="items"))
    clock.now = 14.0  # 4 s for a quarter: 12 s left
    renderer(Update("seeding", "seeding properties", 250.0, 1000.0, unit="items"))
    assert out.getvalue().splitlines() == ["18:02:11 seeding properties 250 of 1,000, 12 s left"]


def test_terminal_draws_a_bar_with_elapsed_and_remaining_columns() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    renderer = RichProgress(console)
    renderer(Update(PACK, "[1/2] api_latency/baseline", 0.0, 2.0, unit="scenarios", eta_s=95.0))
    renderer(Update("load phase", "load phase (open model)", 12.0, 30.0))
    renderer.progress.refresh()
    text = out.getvalue()
    renderer(Update(PACK, "demo", 0.0, finished=True))
    renderer(Update("load phase", "load phase (open model)", 30.0, 30.0, finished=True))
    assert not renderer._live  # every step over: the live display gave the console back
    assert "[1/2] api_latency/baseline" in text and "0/2 scenarios" in text
    assert "12/30 s" in text and "0:00:18 left" in text and "0:01:35 left" in text
    assert "0:00:00" in text  # the elapsed column
    assert "━" in text  # the bar


def test_expected_seconds_follows_the_stated_rule() -> None:
    params = {"duration_s": 3.0, "warmup_s": 1.0, "repetitions": 2, "zipf_s": 0.99, "rate": 500.0}
    assert expected_seconds(params) == SCENARIO_OVERHEAD_S + 2 * 4.0
    faults = {"faults": ["a", "b"], "normal_s": 1.0, "fault_s": 2.0, "poll_s": 0.2, "request_timeout_s": 15.0}
    assert expected_seconds(faults) == SCENARIO_OVERHEAD_S + 2 * 3.0
    assert expected_seconds({}) == SCENARIO_OVERHEAD_S


def test_remaining_time_is_scaled_by_how_long_the_finished_scenarios_took_shrunk_toward_the_estimate() -> None:
    expected = [10.0, 20.0, 30.0]
    assert remaining_s(expected, 0, 0.0) == 60.0
    # the first took twice its estimate: the rest is scaled by (20 + 15) / (10 + 15), the prior being 60 / 4
    assert remaining_s(expected, 1, 20.0) == pytest.approx(50.0 * 35.0 / 25.0)
    assert remaining_s(expected, 2, 60.0) == pytest.approx(30.0 * 75.0 / 45.0)  # more evidence, more weight
    assert remaining_s(expected, 3, 90.0) == 0.0


def test_one_scenario_far_over_its_estimate_does_not_multiply_the_rest() -> None:
    """The nightly pack's first scenario took 183 s against 28 s expected; the rest (2,600 s expected) was
    then shown as 4 h 58 min. Shrunk toward 1, it is at most 1.5x the rest's estimate."""
    expected = [28.0] + [200.0] * 13
    assert remaining_s(expected, 1, 183.0) < 1.5 * sum(expected[1:])


def test_counter_and_timed_report_nothing_without_a_sink_and_end_their_step() -> None:
    counter("seeding", "seeding")(1, 2)  # no sink: no error, nothing shown
    seen: list[Update] = []
    with reporting(seen.append):
        counter("seeding", "seeding")(2, 2)
        with timed("backup", "backup", None, period_s=0.01):
            pass
    assert seen[0].finished and seen[0].unit == "items"
    assert [u.step for u in seen[1:]] == ["backup", "backup"] and seen[-1].finished and seen[-1].total is None


def _record(ctx, params, result) -> None:
    ctx.record("x", 1.0)


def test_runner_reports_scenario_i_of_n_and_ends_the_pack(tmp_path: Path) -> None:
    metrics = (MetricSpec("x", "x", "none", "test", "a toy metric"),)
    entries = [
        PackEntry(Scenario(name, "records", _record, metrics=metrics, needs_stack=False), {"duration_s": 5.0})
        for name in ("a", "b")
    ]
    pack = Pack("toy", tmp_path / "toy.toml", entries=entries)
    seen: list[Update] = []
    options = RunOptions(output=tmp_path, target_url="http://127.0.0.1:9", log=lambda m: None)
    with reporting(seen.append):
        run_pack(pack, options)
    assert [(u.label, u.done, u.total) for u in seen[:2]] == [("[1/2] a/optimized", 0, 2), ("[2/2] b/optimized", 1, 2)]
    assert seen[0].eta_s == 2 * (SCENARIO_OVERHEAD_S + 5.0)
    assert seen[-1].step == PACK and seen[-1].finished


@pytest.fixture(scope="module")
def ok_server() -> Iterator[str]:
    """A trivial HTTP server (tests/burn_server.py burning no CPU)."""
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "tests.burn_server", str(port), "0"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def test_a_real_load_phase_reports_its_elapsed_time(ok_server: str) -> None:
    seen: list[Update] = []
    with reporting(seen.append):
        result = run_load(ok_server, OpenPlan.constant(20.0, 1.0), endpoints=[Endpoint("/")], warmup_s=0.5, drain_s=1)
    assert result.overall.count > 0
    phase = [u for u in seen if u.step == "load phase"]
    assert phase[0].done == 0.0 and phase[0].total == 1.5 and "open model" in phase[0].label
    assert phase[-1].finished and phase[-1].done >= 1.5
    ticks = [u.done for u in phase[1:-1]]
    assert ticks and ticks == sorted(ticks)


def test_every_scenario_has_a_positive_estimate_for_its_defaults() -> None:
    from harness.packs import available_scenarios

    for name, scenario in available_scenarios().items():
        seconds = (scenario.estimate or expected_seconds)(dict(scenario.defaults))
        assert 0 < seconds < 24 * 3600, name


def test_the_backup_estimate_counts_windows_backups_and_the_database_size() -> None:
    from scenarios.backup_time import SCENARIO, estimate

    run = {**SCENARIO.defaults, "database_properties": 1_000_000, "repetitions": 5, "live_rate_rps": 50.0}
    run |= {"live_s": 10.0, "window_pairs": 3, "backups_per_window": 2, "settle_s": 0.3}
    # that run took 240 s on the 2-core machine; the generic rule said 62 s
    assert expected_seconds(run) < 70.0 < 200.0 < estimate(run) < 400.0
    for key, more in (("database_properties", 2_000_000), ("window_pairs", 4), ("backups_per_window", 3)):
        assert estimate({**run, key: more}) > estimate(run), key
