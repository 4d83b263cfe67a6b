"""read_replica against the real stack: a real streaming replica, reads measured without and with it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scenarios.read_replica import SCENARIO, read_mix
from tests.scenario_support import run_scenario, small_stack

SHORT = {"users": 8, "duration_s": 1.5, "warmup_s": 0.5, "repetitions": 1, "distinct": 400}


def test_read_mix_uses_distinct_existing_ids() -> None:
    mix = read_mix(properties=2000, distinct=400, seed=1)
    assessments = [e for e in mix if e.name.startswith("energy_assessment:")]
    assert len({e.path for e in assessments}) == 400
    assert all(1 <= int(e.path.split("/")[4]) <= 2000 for e in assessments)
    assert {e.name.split(":")[0] for e in mix} == {"energy_assessment", "portfolio_overview"}
    assert sum(e.weight for e in assessments) == pytest.approx(0.75)


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
        # afterwards the service runs without the replica, which is stopped
        checks = httpx.get(f"{stack.service_url}/health", timeout=10).json()["checks"]
        assert "postgres-replica:lag" not in checks
        assert not [c for c in stack.group.children if c.name == "postgres-replica" and c.alive()]
