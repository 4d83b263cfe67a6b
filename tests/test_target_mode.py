"""`--target URL`: assessing a service athbench did not start, from a user's endpoint list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.results import read
from harness.stack import Stack, StackConfig

ATHBENCH = [sys.executable, "-m", "harness"]
ENDPOINTS = """
[[endpoint]]
path = "/_test/ping"
weight = 3

[[endpoint]]
name = "assessment"
path = "/api/v1/properties/1/energy-assessment"
"""
PACK = """
[pack]
name = "small-target"

[scenarios.target_latency]
rates = [40.0, 80.0]
duration_s = 1.5
warmup_s = 0.5
"""


def test_assess_a_running_service_from_an_endpoint_list(tmp_path: Path) -> None:
    (tmp_path / "endpoints.toml").write_text(ENDPOINTS)
    (tmp_path / "pack.toml").write_text(PACK)
    with Stack(StackConfig(tmp_path / "foreign", seed_properties=1_000, test_knobs=True)) as foreign:
        pid = foreign.service_processes()[0].pid
        done = subprocess.run(
            [
                *ATHBENCH, "assess", "--target", foreign.service_url, "--endpoints", str(tmp_path / "endpoints.toml"),
                "--target-pid", str(pid), "--pack", str(tmp_path / "pack.toml"), "--output", str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "out").iterdir()
    results = read(run_dir)
    assert results.environment["target"] == {"url": foreign.service_url, "pids": [pid]}
    scenario = results.scenario("target_latency", "target")
    assert scenario.status == "complete", scenario.reason
    assert scenario.metrics["throughput_rps"].median > 20
    assert scenario.metrics["latency_p95_ms"].median > 0
    assert scenario.metrics["max_sustainable_rps"].median in (0.0, 40.0, 80.0)
    assert scenario.metrics["service_cpu_percent"].median > 0
    assert {p["rate"] for p in scenario.details["phases"]} <= {40.0, 80.0}
    assert (run_dir / "report.html").exists() and (run_dir / "report.md").exists()


def test_a_bad_endpoint_list_is_refused_before_anything_runs(tmp_path: Path) -> None:
    bad = tmp_path / "endpoints.toml"
    bad.write_text('[[endpoint]]\npath = "no-slash"\n')
    done = subprocess.run(
        [*ATHBENCH, "assess", "--target", "http://127.0.0.1:9", "--endpoints", str(bad), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "endpoint path must start with '/'" in done.stdout
    assert not list(tmp_path.glob("*/results.json"))
