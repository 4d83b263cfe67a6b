"""The capacity search brackets, bisects and confirms, on simulated services with a known limit."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from harness.capacity_search import SearchConfig, StepOutcome, judge, search

SLO = 100.0


def threshold_service(capacity: float, generator_limit: float = math.inf, flukes: set[float] | None = None):
    """A service that meets the SLO exactly up to `capacity`; `flukes` are rates that pass once by chance."""
    calls: list[tuple[float, float]] = []
    flukes = set(flukes or ())

    def measure(rate: float, duration_s: float) -> StepOutcome:
        calls.append((rate, duration_s))
        fluke = any(abs(rate - f) < 1e-6 for f in flukes)
        flukes.difference_update({f for f in flukes if abs(rate - f) < 1e-6})
        ok = rate <= capacity or fluke
        return StepOutcome(
            offered_rps=rate,
            duration_s=duration_s,
            requests=int(rate * duration_s),
            p95_ms=10.0 if ok else 800.0,
            error_rate=0.0,
            throughput_rps=rate if ok else capacity,
            generator_limited=rate > generator_limit,
            note="generator saturated" if rate > generator_limit else None,
        )

    return measure, calls


CONFIG = SearchConfig(slo_p95_ms=SLO, start_rps=100.0, max_rps=10_000.0, ramp_factor=2.0, resolution=0.1)


@pytest.mark.parametrize("capacity", [37.0, 100.0, 333.0, 1234.0, 5000.0])
def test_finds_a_known_limit_within_the_resolution(capacity: float) -> None:
    measure, calls = threshold_service(capacity)
    found = search(measure, CONFIG)
    assert found.rate_rps is not None
    assert capacity / (1 + CONFIG.resolution) <= found.rate_rps <= capacity
    assert found.limited_by == "service" and not found.lower_bound
    assert found.steps[-1].stage == "confirm" and found.steps[-1].passed
    assert [s.stage for s in found.steps].count("confirm") == 1
    assert len(calls) == len(found.steps)
    assert len([s for s in found.steps if s.stage != "recheck"]) <= 12
    for step, after in zip(found.steps, found.steps[1:], strict=False):  # every failure measured again, longer
        if step.stage in ("ramp", "bisect") and not step.passed:
            assert after.stage == "recheck" and after.rate == step.rate
            assert after.outcome.duration_s == pytest.approx(CONFIG.confirm_factor * step.outcome.duration_s)


def test_steps_hold_enough_requests_and_the_confirmation_is_longer() -> None:
    config = SearchConfig(slo_p95_ms=SLO, start_rps=50.0, min_requests=300, min_step_s=1.0, confirm_factor=3.0)
    measure, _ = threshold_service(700.0)
    found = search(measure, config)
    for step in found.steps:
        expected = max(1.0, 300 / step.rate) * (3.0 if step.stage in ("confirm", "recheck") else 1.0)
        assert step.outcome.duration_s == pytest.approx(expected)
        assert step.rate * step.outcome.duration_s >= 300 - 1e-6
    assert config.step_s(0.5) == config.max_step_s  # a very low rate is capped, not run for 600 s


def test_a_failing_first_step_ramps_down() -> None:
    measure, _ = threshold_service(12.0)
    found = search(measure, CONFIG)
    assert found.rate_rps is not None and 12.0 / 1.1 <= found.rate_rps <= 12.0
    ramp = [(s.rate, s.passed) for s in found.steps if s.stage == "ramp"][:5]
    assert ramp == [(100.0, False), (50.0, False), (25.0, False), (12.5, False), (6.25, True)]


def test_nothing_passes_above_min_rps() -> None:
    measure, _ = threshold_service(0.5)
    found = search(measure, SearchConfig(slo_p95_ms=SLO, start_rps=100.0, min_rps=5.0))
    assert found.rate_rps is None and found.limited_by == "min_rps reached"
    assert all(s.rate >= 5.0 for s in found.steps)


def test_max_rps_passing_is_a_lower_bound() -> None:
    measure, _ = threshold_service(1e9)
    found = search(measure, SearchConfig(slo_p95_ms=SLO, start_rps=100.0, max_rps=1000.0))
    assert found.rate_rps == 1000.0 and found.limited_by == "max_rps reached" and found.lower_bound
    assert max(s.rate for s in found.steps) == 1000.0


def test_a_generator_limit_below_the_service_limit_makes_a_lower_bound() -> None:
    measure, _ = threshold_service(5000.0, generator_limit=1500.0)
    found = search(measure, CONFIG)
    assert found.rate_rps is not None and 1500.0 / 1.1 <= found.rate_rps <= 1500.0
    assert found.limited_by == "load generator" and found.lower_bound
    assert any("load generator" in why for s in found.steps for why in s.reasons)


def test_a_moment_the_generator_lacked_cpu_is_measured_again_and_a_real_generator_limit_stands() -> None:
    base, calls = threshold_service(1000.0)
    starved = [True]  # the machine's moment: the first step at 400 req/s finds the generator without CPU

    def measure(rate: float, duration_s: float) -> StepOutcome:
        outcome = base(rate, duration_s)
        if rate == 400.0 and starved and starved.pop():
            return StepOutcome(rate, duration_s, outcome.requests, 60.0, 0.0, rate, generator_limited=True)
        return outcome

    found = search(measure, CONFIG)
    assert [(s.stage, s.rate, s.passed) for s in found.steps[2:4]] == [
        ("ramp", 400.0, False),
        ("remeasure", 400.0, True),
    ]
    assert calls[2] == calls[3]  # the same step again, as long
    assert found.rate_rps is not None and 1000.0 / 1.1 <= found.rate_rps <= 1000.0 and found.limited_by == "service"
    starved.append(True)
    never = search(measure, SearchConfig(**{**CONFIG.__dict__, "generator_remeasures": 0}))
    assert never.limited_by == "load generator" and (never.rate_rps or 0.0) < 400.0  # what the remeasure prevents
    # a generator at its real limit fails the second step too: the search ends there, a lower bound
    limited = search(threshold_service(5000.0, generator_limit=1500.0)[0], CONFIG)
    stages = [(s.stage, s.passed) for s in limited.steps]
    assert ("remeasure", False) in stages and limited.limited_by == "load generator"
    with pytest.raises(ValueError, match="generator_remeasures"):
        SearchConfig(slo_p95_ms=SLO, generator_remeasures=-1)


def test_a_fluke_pass_above_the_limit_is_caught_by_the_confirmation() -> None:
    # capacity 300: the ramp passes 100, 200 and fails 400; bisection tries sqrt(200 * 400) = 283 (passes),
    # then 336.8, which passes once by chance: without the confirmation the search would report 336.8.
    fluke = math.sqrt(math.sqrt(200 * 400) * 400)
    measure, _ = threshold_service(300.0, flukes={fluke})
    found = search(measure, CONFIG)
    stages = [(s.stage, round(s.rate, 1), s.passed) for s in found.steps]
    assert ("bisect", round(fluke, 1), True) in stages
    assert ("confirm", round(fluke, 1), False) in stages
    assert found.rate_rps is not None and found.rate_rps <= 300.0
    assert found.steps[-1].stage == "confirm" and found.steps[-1].passed


def test_no_confirmed_rate_when_every_confirmation_fails() -> None:
    config = SearchConfig(slo_p95_ms=SLO, start_rps=100.0, confirmations=2)

    def measure(rate: float, duration_s: float) -> StepOutcome:
        ok = rate <= 300 and duration_s <= config.step_s(rate)  # ordinary steps pass, confirmations never do
        return StepOutcome(rate, duration_s, int(rate * duration_s), 10.0 if ok else 500.0, 0.0, rate)

    found = search(measure, config)
    assert found.rate_rps is None and found.limited_by == "unconfirmed"
    assert [s.stage for s in found.steps].count("confirm") == 2


def test_backlogged_errors_and_falling_behind_each_fail_a_step() -> None:
    good = StepOutcome(100.0, 3.0, 300, 20.0, 0.0, 100.0)
    assert judge(good, CONFIG) == ()
    cases = {
        "backlogged": StepOutcome(100.0, 3.0, 300, 20.0, 0.0, 100.0, backlogged=True),  # p95 is a lower bound
        "errors": StepOutcome(100.0, 3.0, 300, 20.0, 0.05, 95.0),
        "answered": StepOutcome(100.0, 3.0, 300, 20.0, 0.0, 80.0),
        "SLO": StepOutcome(100.0, 3.0, 300, 150.0, 0.0, 100.0),
        "no latency": StepOutcome(100.0, 3.0, 0, None, 0.0, 100.0),
        "load generator": StepOutcome(100.0, 3.0, 300, 20.0, 0.0, 100.0, generator_limited=True),
    }
    for word, outcome in cases.items():
        reasons = judge(outcome, CONFIG)
        assert len(reasons) == 1 and word in reasons[0], (word, reasons)


def test_every_step_is_recorded_with_its_verdict() -> None:
    measure, _ = threshold_service(450.0)
    record = search(measure, CONFIG).to_dict()
    assert record["rate_rps"] is not None and record["limited_by"] == "service"
    for step in record["steps"]:
        assert {"stage", "offered_rps", "p95_ms", "requests", "passed", "why"} <= set(step)
        assert step["passed"] == (not step["why"])


def queueing_service(capacity: float, noise: float, rng: random.Random):
    """p95 of an M/M/1 queue (service time 1/capacity) times lognormal noise: a soft, noisy knee."""

    def measure(rate: float, duration_s: float) -> StepOutcome:
        rho = rate / capacity
        p95 = 1000.0 / capacity * math.log(20.0) / (1.0 - rho) if rho < 1 else 1e5
        p95 *= math.exp(rng.gauss(0.0, noise / math.sqrt(duration_s)))
        return StepOutcome(rate, duration_s, int(rate * duration_s), p95, 0.0, min(rate, capacity))

    return measure


def test_repeated_searches_on_a_noisy_service_agree_within_the_goal() -> None:
    # service time 1 ms: without noise the p95 (3 ms / (1 - rho)) meets the 100 ms SLO up to 970 req/s
    rng = random.Random(3)
    found = [search(queueing_service(1000.0, 0.4, rng), CONFIG).rate_rps for _ in range(200)]
    rates = sorted(r for r in found if r is not None)
    assert len(rates) == 200
    assert rates[-1] <= 1000.0
    assert rates[-5] / rates[4] <= 1.3  # 95 % of pairs of runs within 1.3x (the quick pack's goal)
    assert rates[4] >= 0.85 * 970.0  # and near the knee: a coarse search (resolution 0.5) stops at 800


def stalling_service(capacity: float, stall_every_s: float, rng: random.Random):
    """Meets the SLO exactly up to `capacity`, but a step fails whatever its rate when it contains a stall
    (one every `stall_every_s` seconds at a random phase: a step of d seconds contains one with probability
    d / stall_every_s), as the baseline's health round blocks the event loop for a second every 30 s."""

    def measure(rate: float, duration_s: float) -> StepOutcome:
        ok = rate <= capacity and rng.random() >= min(1.0, duration_s / stall_every_s)
        return StepOutcome(rate, duration_s, int(rate * duration_s), 10.0 if ok else 400.0, 0.0, min(rate, capacity))

    return measure


def stalling_once():
    """Meets the SLO exactly up to 1,000 req/s, but its first step (whatever its rate) contains a stall."""
    stalls = [True]

    def measure(rate: float, duration_s: float) -> StepOutcome:
        ok = rate <= 1000.0 and not (stalls and stalls.pop())
        return StepOutcome(rate, duration_s, int(rate * duration_s), 10.0 if ok else 400.0, 0.0, min(rate, 1000.0))

    return measure


def test_a_stall_in_one_step_below_the_limit_is_measured_again_and_does_not_send_the_search_down() -> None:
    found = search(stalling_once(), CONFIG)
    assert [(s.stage, s.rate, s.passed) for s in found.steps[:2]] == [("ramp", 100.0, False), ("recheck", 100.0, True)]
    assert found.rate_rps is not None and 1000.0 / 1.1 <= found.rate_rps <= 1000.0
    unchecked = search(stalling_once(), SearchConfig(**{**CONFIG.__dict__, "recheck_failures": False}))
    assert unchecked.rate_rps is not None and unchecked.rate_rps < 100.0  # without the recheck: sent down


def test_repeated_searches_on_a_service_with_periodic_stalls_agree_within_the_goal() -> None:
    # the quick pack's search (1 s steps, resolution 0.15) on a service that stalls every 30 s
    config = SearchConfig(slo_p95_ms=SLO, start_rps=300.0, max_rps=7000.0, resolution=0.15)
    spread = {}
    for recheck in (True, False):
        rng = random.Random(5)
        checked = SearchConfig(**{**config.__dict__, "recheck_failures": recheck})
        rates = sorted(search(stalling_service(1000.0, 30.0, rng), checked).rate_rps or 0.0 for _ in range(400))
        spread[recheck] = rates[-10] / max(rates[9], 1e-9)  # 95 % of searches between these
        assert rates[-1] <= 1000.0
    assert spread[True] <= 1.3  # the goal for two quick runs
    assert spread[False] > 2.0  # what the recheck prevents: one stalled step sends the search down for good


def draining_stall_service(capacity: float, stall_s: float, every_s: float, phase: float):
    """A service on a simulated clock that stops for `stall_s` every `every_s` seconds; the backlog of a stall
    drains at (capacity - rate), so near its limit a stall delays many more requests than it lasts. A step
    fails when the requests it delayed exceed 5 % of its own (its p95 then holds a delayed one)."""
    clock = [phase]

    def measure(rate: float, duration_s: float) -> StepOutcome:
        start, end = clock[0], clock[0] + duration_s
        clock[0] = end + 1.0  # warm-up and drain between steps
        stalled = sum(
            max(0.0, min(end, k * every_s + stall_s) - max(start, k * every_s))
            for k in range(int(start // every_s), int(end // every_s) + 1)
        )
        delayed_s = stalled * (1.0 + rate / (capacity - rate)) if rate < capacity else math.inf
        ok = delayed_s <= 0.05 * duration_s
        return StepOutcome(rate, duration_s, int(rate * duration_s), 10.0 if ok else 400.0, 0.0, min(rate, capacity))

    return measure


def test_confirmations_as_long_as_the_stall_period_report_the_long_run_rate() -> None:
    # 0.5 s every 30 s: in the long run the p95 holds up to 2/3 of the capacity (0.5 s x 3 = 5 % of 30 s),
    # while 2 s steps mostly miss the stall and pass up to the capacity
    capacity, every_s = 900.0, 30.0
    long_run = capacity * 2.0 / 3.0
    base = SearchConfig(slo_p95_ms=SLO, start_rps=200.0, resolution=0.05, min_step_s=2.0, confirm_factor=3.0)
    with pytest.raises(ValueError, match="min_confirm_s"):
        SearchConfig(**{**base.__dict__, "min_confirm_s": -1.0})
    covering = SearchConfig(**{**base.__dict__, "min_confirm_s": every_s})
    found: dict[float, list[float]] = {}
    for config in (base, covering):
        rates = []
        for phase in range(60):
            result = search(draining_stall_service(capacity, 0.5, every_s, phase / 2.0), config)
            for step in result.steps:
                if step.stage in ("confirm", "recheck"):
                    assert step.outcome.duration_s == pytest.approx(config.confirm_s(step.rate))
                    assert step.outcome.duration_s >= config.min_confirm_s
            rates.append(result.rate_rps or 0.0)
        found[config.min_confirm_s] = rates
    # short confirmations: the searches report a rate the service cannot hold in the long run
    assert statistics.median(found[0.0]) > 1.2 * long_run
    # a confirmation as long as the period holds exactly one period's stall: every search confirms a rate,
    # within the resolution below the long-run one (the bisection after the failed confirmation is long too)
    assert all(long_run / 1.1 <= rate <= long_run for rate in found[every_s]), found[every_s]
