"""read_replica against the real stack: a real streaming replica, reads measured without and with it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scenarios.read_replica import SCENARIO, read_mix
from tests.scenario_support import run_scenario, small_stack

SHORT = {"users": 8, "duration_s": 1.5, "warmup_s": 0.5, "repetitions": 1}


def test_read_mix_is_zipf_over_every_property_and_user_without_writes() -> None:
    mix = {e.name: e for e in read_mix(properties=2000, users=10, zipf_s=0.99)}
    assert set(mix) == {"energy_assessment", "portfolio_overview"}
    assert mix["energy_assessment"].params["id"] == {"dist": "zipf", "min": 1, "max": 2000, "s": 0.99}
    assert mix["portfolio_overview"].params["user"]["max"] == 10
    assert mix["energy_assessment"].weight == pytest.approx(0.75)


def test_reads_without_and_with_the_replica(tmp_path: Path) -> None:
    with small_stack(tmp_path / "stack", upstream=False) as stack:
        result = run_scenario(SCENARIO, stack, "optimized", tmp_path / "out", **SHORT)

        # on a busy machine the generator may saturate: the scenario then says so (figures still recorded)
        assert result.status == "complete" or "load generator" in (result.reason or ""), result.reason
        assert {"read_rps_primary", "read_rps_replica", "read_throughput_ratio", "replica_lag_s"} <= set(result.metrics)
        points = {p["mode"]: p for p in result.details["points"]}
        assert points["primary"]["throughput_rps"] > 0 and points["replica"]["throughput_rps"] > 0
        assert points["primary"]["error_rate"] == 0 and points["replica"]["error_rate"] == 0
        ratio = result.metrics["read_throughput_ratio"].median
        assert ratio == points["replica"]["throughput_rps"] / points["primary"]["throughput_rps"]
        assert 0 <= points["replica"]["replica_lag_s"] < 5
        assert all(0 <= p["hit_ratio"] <= 1 for p in points.values())  # which path each phase measured
        # afterwards the service runs without the replica, which is stopped
        checks = httpx.get(f"{stack.service_url}/health", timeout=10).json()["checks"]
        assert "postgres-replica:lag" not in checks
        assert not [c for c in stack.group.children if c.name == "postgres-replica" and c.alive()]
