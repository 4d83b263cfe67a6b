"""Running a pack: partial results survive Ctrl-C and failures, and every process is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from harness import results as results_io
from harness.packs import Pack, PackEntry
from harness.runner import RunOptions, run_pack
from scenarios.base import MetricSpec, Scenario
from tests.process_support import assert_gone, interruptible, read_until

STACK = {"seed_properties": 1_000, "upstream": False}


def _measure_pid(ctx, params, result) -> None:
    import httpx

    response = httpx.get(f"{ctx.target_url}/health/live")
    ctx.record("live_status", response.status_code)


def _broken(ctx, params, result) -> None:
    ctx.record("before_failure", 1.0)
    raise RuntimeError("scenario bug")


def declares(name: str) -> tuple[MetricSpec, ...]:
    return (MetricSpec(name, "x", "none", "test", "a toy metric"),)


def test_failed_scenario_does_not_lose_the_rest(tmp_path: Path) -> None:
    pack = Pack(
        "t",
        tmp_path / "t.toml",
        entries=[
            PackEntry(Scenario("broken", "raises", _broken, metrics=declares("before_failure")), {}),
            PackEntry(Scenario("live", "calls /health/live", _measure_pid, metrics=declares("live_status")), {}),
        ],
    )
    options = RunOptions(profiles=["baseline", "optimized"], output=tmp_path, stack_config=STACK, log=lambda m: None)
    results, run_dir = run_pack(pack, options)
    assert [(s.name, s.profile, s.status) for s in results.scenarios] == [
        ("broken", "baseline", "failed"),
        ("broken", "optimized", "failed"),
        ("live", "baseline", "complete"),
        ("live", "optimized", "complete"),
    ]
    assert results.status == "incomplete" and "broken" in (results.status_reason or "")
    saved = results_io.read(run_dir)
    assert saved.scenario("broken", "baseline").reason == "RuntimeError: scenario bug"
    assert saved.scenario("broken", "baseline").metrics["before_failure"].median == 1.0
    assert saved.scenario("live", "optimized").metrics["live_status"].median == 200
    assert saved.environment["stack"]["profile"] in ("baseline", "optimized")
    assert saved.environment["cores"] >= 1


SLOW_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from harness.packs import Pack, PackEntry
    from harness.processes import install_signal_handlers
    from harness.runner import RunOptions, run_pack
    from scenarios.base import MetricSpec, Scenario

    def slow(ctx, params, result):
        ctx.record("first_sample", 42.0)
        print("measuring", flush=True)
        time.sleep(120)

    install_signal_handlers()
    out = Path(sys.argv[1])
    spec = MetricSpec("first_sample", "ms", "lower", "test", "a toy metric")
    pack = Pack("slow", out / "slow.toml", entries=[PackEntry(Scenario("slow", "sleeps", slow, metrics=(spec,)), {})])
    run_pack(pack, RunOptions(output=out, stack_config={"seed_properties": 1000, "upstream": False}))
    """
)


def test_ctrl_c_mid_run_keeps_partial_results_and_stops_everything(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        read_until(proc, "measuring")
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert len(children) >= 3
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(children)
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    saved = results_io.read(run_dir)
    assert saved.status == "incomplete"
    assert "interrupted" in (saved.status_reason or "")
    scenario = saved.scenario("slow")
    assert scenario.status == "incomplete"
    assert scenario.metrics["first_sample"].median == 42.0


def _busy_requests(ctx, params, result) -> None:
    import httpx

    deadline = time.monotonic() + 3.0
    with httpx.Client(base_url=ctx.target_url) as client:
        while time.monotonic() < deadline:
            client.get("/api/v1/properties/1/energy-assessment")
    ctx.record("done", 1.0)


def test_profile_hook_attaches_py_spy_to_the_service(tmp_path: Path) -> None:
    busy = Scenario("busy", "requests", _busy_requests, metrics=declares("done"))
    pack = Pack("p", tmp_path / "p.toml", entries=[PackEntry(busy, {})])
    options = RunOptions(output=tmp_path, stack_config=STACK, log=lambda m: None, profile_s=2.0)
    results, run_dir = run_pack(pack, options)
    scenario = results.scenario("busy")
    assert "profile_error" not in scenario.details, scenario.details.get("profile_error")
    assert (run_dir / scenario.artifacts["speedscope"]).stat().st_size > 0
    assert (run_dir / scenario.artifacts["flamegraph"]).read_text().lstrip().startswith("<")
    files = {frame["file"] for frame in scenario.details["hot_frames"]}
    assert any(f.startswith("system_under_test/") for f in files), files
