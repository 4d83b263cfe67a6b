"""horizontal_scaling against the real stack: the service really runs N worker processes per step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stack import Stack
from scenarios.horizontal_scaling import SCENARIO
from tests.scenario_support import run_scenario, small_stack

SHORT = {"workers": [1, 2], "users": 8, "duration_s": 1.5, "warmup_s": 0.5, "repetitions": 1}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("scaling-stack")) as running:
        yield running


def test_one_and_two_processes(stack: Stack, tmp_path: Path) -> None:
    result = run_scenario(SCENARIO, stack, "optimized", tmp_path, **SHORT)
    assert set(result.metrics) == {"throughput_1_rps", "throughput_2_rps", "scaling_efficiency_2"}
    points = {p["workers"]: p for p in result.details["points"]}
    # uvicorn --workers 2 is a supervisor plus two serving processes; --workers 1 is a single process
    assert points[1]["processes"] == 1
    assert points[2]["processes"] >= 3
    x1 = result.metrics["throughput_1_rps"].median
    x2 = result.metrics["throughput_2_rps"].median
    assert x1 > 0 and x2 > 0
    assert result.metrics["scaling_efficiency_2"].median == pytest.approx(x2 / (2 * x1))
    assert "at least 4" in result.details["usl"]["error"]
    assert result.details["machine"]["cpus"] >= 1
    stack.start_service("optimized", workers=1)
