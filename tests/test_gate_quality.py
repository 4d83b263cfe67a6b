"""benchmarks.gate_quality end to end: Locust load phases against a loopback server, results files, the gate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchmarks.gate_quality import ARMS, METRICS, QUICK, ServiceTimeServer, evaluate
from harness.results import read


def test_quick_mode_runs_through_the_real_pipeline(tmp_path: Path) -> None:
    config = replace(QUICK, runs=2, simulated=50)  # 2 trials' worth of load phases would double the time
    summary = evaluate(config, tmp_path, log=lambda _: None)
    files = sorted(tmp_path.rglob("results.json"))
    assert len(files) == len(ARMS) * config.runs
    run = read(files[0])
    assert set(run.scenarios[0].metrics) == set(METRICS)  # every directional metric is gated
    assert summary["real"]["outcomes_aa"].keys() <= {"PASS", "UNDECIDABLE"}  # 2 runs a side: never exit 1
    assert summary["simulated"]["false_positive"]["n"] == 50
    assert all(sd > 0 for sd in summary["simulated"]["run_noise_sd_log"].values())


def test_service_times_are_multiplied_by_the_slowdown() -> None:
    import httpx

    server = ServiceTimeServer(median_ms=20.0, sigma=0.01, seed=1)
    with server.running(), httpx.Client(base_url=server.url) as client:
        plain = [client.get("/work").elapsed.total_seconds() for _ in range(5)]
        server.slowdown = 1.0  # ground truth: twice the service time
        slowed = [client.get("/work").elapsed.total_seconds() for _ in range(5)]
    assert 1.6 < sorted(slowed)[2] / sorted(plain)[2] < 2.4
