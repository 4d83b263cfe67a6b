"""Load plans (arrival schedules) and the TOML endpoint list."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.endpoints import Endpoint, load_endpoints
from harness.load.plan import ClosedPlan, OpenPlan, plan_from_dict


def test_constant_rate_schedule_is_evenly_spaced_and_includes_warmup() -> None:
    times = list(OpenPlan.constant(100, 2.0).arrivals(warmup_s=1.0))
    assert len(times) == 300
    assert times[:3] == pytest.approx([0.0, 0.01, 0.02])
    assert times == sorted(times)
    assert times[-1] < 3.0


def test_ramp_rate_grows_linearly() -> None:
    times = list(OpenPlan.ramp(0, 200, 4.0).arrivals())
    assert len(times) == pytest.approx(400, abs=1)
    first_half = sum(1 for t in times if t < 2.0)
    assert first_half == pytest.approx(100, abs=2)  # integral of the rate over the first half: 1/4


def test_stepped_rate_changes_per_step() -> None:
    times = list(OpenPlan.stepped([(10, 1.0), (100, 1.0)]).arrivals())
    assert sum(1 for t in times if t < 1.0) == 10
    assert sum(1 for t in times if t >= 1.0) == 100


def test_worker_shares_interleave_into_the_whole_schedule() -> None:
    plan = OpenPlan.constant(300, 2.0)
    whole = list(plan.arrivals(warmup_s=0.5))
    parts = sorted(t for i in range(3) for t in plan.arrivals(warmup_s=0.5, share=1 / 3, phase=i / 3))
    assert len(parts) == len(whole)
    assert parts == pytest.approx(whole, abs=1e-9)


def test_poisson_arrivals_average_the_rate_and_are_seeded() -> None:
    plan = OpenPlan.constant(1000, 5.0, arrival="poisson", seed=7)
    times = list(plan.arrivals())
    assert len(times) == pytest.approx(5000, rel=0.05)
    assert times == list(plan.arrivals())


def test_plans_round_trip_and_reject_bad_input() -> None:
    open_plan = OpenPlan.stepped([(10, 1.0), (20, 2.0)], users=7)
    assert plan_from_dict(open_plan.to_dict()) == open_plan
    closed = ClosedPlan(users=4, duration_s=3)
    assert plan_from_dict(closed.to_dict()) == closed
    with pytest.raises(ValueError, match="users"):
        ClosedPlan(users=0, duration_s=1)
    with pytest.raises(ValueError, match="duration"):
        OpenPlan.constant(10, -1)
    with pytest.raises(ValueError, match="arrival"):
        OpenPlan.constant(10, 1, arrival="bursty")
    with pytest.raises(ValueError, match="model"):
        plan_from_dict({"model": "half-open"})


def test_endpoint_list_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.toml"
    path.write_text(
        '[[endpoint]]\npath = "/a"\n\n'
        '[[endpoint]]\nname = "create"\nmethod = "post"\npath = "/b"\nweight = 3\njson = { x = 1 }\n'
    )
    a, b = load_endpoints(path)
    assert a == Endpoint(path="/a", name="GET /a")
    assert (b.name, b.method, b.weight, b.json) == ("create", "POST", 3.0, {"x": 1})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[endpoint]]\nmethod = "GET"\n', "no 'path'"),
        ('[[endpoint]]\npath = "a"\n', "must start with '/'"),
        ('[[endpoint]]\npath = "/a"\nmethod = "FETCH"\n', "unknown HTTP method"),
        ('[[endpoint]]\npath = "/a"\nspeed = 1\n', "unknown keys"),
        ('[[endpoint]]\npath = "/a"\n[[endpoint]]\npath = "/a"\n', "duplicate"),
        ("endpoint = 1\n", r"\[\[endpoint\]\]"),
        ("[[endpoint\n", "not valid TOML"),
    ],
)
def test_bad_endpoint_lists_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_endpoints(path)
