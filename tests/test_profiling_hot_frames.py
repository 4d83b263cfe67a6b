"""hot_frames on hand-built speedscope files: busy runs, the call that held the loop, its caller."""

from __future__ import annotations

import json
from pathlib import Path

from harness.profiling import busy_by_group, flamegraph_svg, hot_frames

LIB = "/usr/lib/python3.11"
SITE = f"{LIB}/site-packages"
FRAMES = [
    {"name": "Runner.run", "file": f"{LIB}/asyncio/runners.py", "line": 118},  # 0 loop (uvloop: idle leaf)
    {"name": "Monitor.round", "file": "system_under_test/health/monitor.py", "line": 77},  # 1 task entry
    {"name": "blocking_cpu", "file": "system_under_test/health/cpu.py", "line": 23},  # 2
    {"name": "cpu_percent", "file": f"{SITE}/psutil/__init__.py", "line": 1846},  # 3 time.sleep line
    {"name": "cpu_percent", "file": f"{SITE}/psutil/__init__.py", "line": 1840},  # 4 before the sleep
    {"name": "Probe.run", "file": "system_under_test/loop_lag.py", "line": 60},  # 5 another task
    {"name": "handle", "file": "system_under_test/api.py", "line": 12},  # 6 a third task
]
IDLE = [0]
BLOCKED = [0, 1, 2, 3]
BLOCKED_OTHER_LINE = [0, 1, 2, 4]
PROBE = [0, 5]
HANDLER = [0, 6]


def _speedscope(tmp_path: Path, samples: list[list[int]]) -> Path:
    path = tmp_path / "p.speedscope.json"
    profile = {"type": "sampled", "name": 'Thread 1 "MainThread"', "unit": "seconds", "samples": samples}
    profile["weights"] = [0.01] * len(samples)
    path.write_text(json.dumps({"shared": {"frames": FRAMES}, "profiles": [profile]}))
    return path


def _by_name(frames):
    return {(f.function, f.line): f for f in frames}


def test_a_blocking_call_is_the_innermost_frame_of_its_run_with_its_project_caller(tmp_path: Path):
    samples = [IDLE] * 5 + [BLOCKED_OTHER_LINE] + [BLOCKED] * 97 + [BLOCKED_OTHER_LINE] * 2 + [IDLE] * 5
    frames = _by_name(hot_frames(_speedscope(tmp_path, samples)))
    cpu = frames[("psutil.cpu_percent", 1846)]
    assert cpu.longest_hold_ms == 1000.0  # the whole run of 100 samples at 10 ms
    assert cpu.file == "psutil/__init__.py"
    assert (cpu.caller.function, cpu.caller.file, cpu.caller.line) == (
        "system_under_test.health.cpu.blocking_cpu",
        "system_under_test/health/cpu.py",
        23,
    )
    assert (
        cpu.self_fraction == 0.97 and frames[("system_under_test.health.monitor.Monitor.round", 77)].total_fraction == 1
    )
    assert frames[("system_under_test.health.cpu.blocking_cpu", 23)].longest_hold_ms == 0.0


def test_different_callbacks_back_to_back_are_separate_short_holds(tmp_path: Path):
    samples = [HANDLER, PROBE] * 50 + [IDLE]
    frames = hot_frames(_speedscope(tmp_path, samples))
    assert max(f.longest_hold_ms for f in frames) == 10.0


def test_idle_samples_are_not_counted_and_the_flame_graph_names_the_call(tmp_path: Path):
    path = _speedscope(tmp_path, [IDLE] * 90 + [BLOCKED] * 10)
    frames = _by_name(hot_frames(path))
    assert ("asyncio.runners.Runner.run", 118) not in frames or frames[
        ("asyncio.runners.Runner.run", 118)
    ].self_fraction == 0
    assert frames[("psutil.cpu_percent", 1846)].self_fraction == 1.0  # of the busy samples
    svg = flamegraph_svg(path, title="<t>")
    assert "psutil.cpu_percent (psutil/__init__.py:1846) - 10 samples (100.0 %)" in svg and "&lt;t&gt;" in svg


def test_busy_samples_are_grouped_by_the_leaf_frames_file(tmp_path: Path):
    samples = [IDLE] * 10 + [BLOCKED] * 6 + [PROBE] * 3 + [HANDLER]
    layer = {"psutil": "library", "system_under_test": "service"}
    busy, shares = busy_by_group(
        _speedscope(tmp_path, samples), lambda file: next((v for k, v in layer.items() if k in file), "other")
    )
    # idle samples are not counted; a sample counts for its innermost frame only (psutil, not the monitor)
    assert busy == 10
    assert shares == {"library": 0.6, "service": 0.4}
