"""Circuit breaker state machine: count and time windows, minimum calls, slow calls, half-open probes."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from system_under_test.resilience import BreakerConfig, BreakerOpen, CircuitBreaker, State
from system_under_test.resilience.windows import CountWindow, TimeWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(name: str = "t", clock: FakeClock | None = None, **overrides: object) -> tuple[CircuitBreaker, FakeClock]:
    clock = clock or FakeClock()
    cfg = {
        "window_type": "count",
        "window_size": 10,
        "minimum_calls": 4,
        "failure_rate_threshold": 50.0,
        "slow_call_duration_s": 1.0,
        "slow_call_rate_threshold": 100.0,
        "permitted_calls_in_half_open": 2,
        "wait_in_open_s": 5.0,
    }
    cfg.update(overrides)
    return CircuitBreaker(name, BreakerConfig(**cfg), clock=clock), clock  # type: ignore[arg-type]


def outcome(breaker: CircuitBreaker, *, fail: bool = False, duration: float = 0.01) -> None:
    breaker.acquire()
    if fail:
        breaker.on_error(duration, ConnectionError("down"))
    else:
        breaker.on_success(duration)


def test_count_window_keeps_running_totals_of_the_last_n() -> None:
    w = CountWindow(3)
    for failed in (True, True, False, False):
        totals = w.record(failed, slow=False)
    assert (totals.calls, totals.failed) == (3, 1)
    assert totals.failure_rate() == pytest.approx(100 / 3)


def test_time_window_drops_buckets_older_than_the_window() -> None:
    w = TimeWindow(5)
    w.record(True, False, now=100.2)
    w.record(True, True, now=101.9)
    w.record(False, False, now=104.0)
    assert w.snapshot(104.5).calls == 3
    assert (w.snapshot(105.0).calls, w.snapshot(105.0).failed) == (2, 1)  # second 100 expired
    assert w.snapshot(106.0).slow == 0  # second 101 expired too
    assert w.snapshot(200.0).calls == 0  # idle far longer than the window


def test_stays_closed_below_minimum_calls_even_if_all_fail() -> None:
    breaker, _ = make(minimum_calls=4)
    for _ in range(3):
        outcome(breaker, fail=True)
    assert breaker.state is State.CLOSED
    outcome(breaker, fail=True)
    assert breaker.state is State.OPEN


def test_opens_at_the_failure_rate_threshold_not_below() -> None:
    breaker, _ = make(window_size=10, minimum_calls=10, failure_rate_threshold=50.0)
    for i in range(10):
        outcome(breaker, fail=i >= 6)  # 4 of 10 = 40 %
    assert breaker.state is State.CLOSED
    outcome(breaker, fail=True)  # evicts a success: 5 of 10 = 50 %
    assert breaker.state is State.OPEN


def test_count_window_forgets_old_failures() -> None:
    breaker, _ = make(window_size=4, minimum_calls=4, failure_rate_threshold=75.0)
    for fail in (True, True, False, False, False, True, True):
        outcome(breaker, fail=fail)
    # the window holds the last four (S, S, F, F); the rate never reached 75 %
    assert breaker.metrics().calls == 4
    assert breaker.metrics().failed == 2
    assert breaker.state is State.CLOSED


def test_time_window_opens_only_on_calls_within_the_window() -> None:
    breaker, clock = make(window_type="time", window_size=10, minimum_calls=4)
    for _ in range(3):
        outcome(breaker, fail=True)
    clock.now += 11  # those three failures leave the window
    outcome(breaker, fail=True)
    assert breaker.state is State.CLOSED
    assert breaker.metrics().calls == 1
    for _ in range(3):
        outcome(breaker, fail=True)
    assert breaker.state is State.OPEN


def test_slow_calls_open_the_breaker_even_when_they_succeed() -> None:
    breaker, _ = make(slow_call_duration_s=0.5, slow_call_rate_threshold=75.0, minimum_calls=4)
    for duration in (0.6, 0.7, 0.1):
        outcome(breaker, duration=duration)
    assert breaker.state is State.CLOSED
    outcome(breaker, duration=0.9)  # 3 of 4 slow = 75 %
    assert breaker.state is State.OPEN


def test_open_rejects_until_the_wait_passes_then_half_open_permits_n_probes() -> None:
    breaker, clock = make(wait_in_open_s=5.0, permitted_calls_in_half_open=2)
    for _ in range(4):
        outcome(breaker, fail=True)
    assert breaker.state is State.OPEN
    with pytest.raises(BreakerOpen, match="'t' is open"):
        breaker.acquire()
    clock.now += 4.9
    assert not breaker.try_acquire()
    clock.now += 0.2
    assert breaker.try_acquire()
    assert breaker.state is State.HALF_OPEN
    assert breaker.try_acquire()
    assert not breaker.try_acquire()  # both probe slots taken


def open_then_half_open(**overrides: object) -> tuple[CircuitBreaker, FakeClock]:
    breaker, clock = make(**overrides)
    for _ in range(4):
        outcome(breaker, fail=True)
    clock.now += 5.0
    return breaker, clock


def test_successful_probes_close_the_breaker_with_a_fresh_window() -> None:
    breaker, _ = open_then_half_open()
    outcome(breaker)
    assert breaker.state is State.HALF_OPEN  # waits for every probe
    outcome(breaker)
    assert breaker.state is State.CLOSED
    assert breaker.metrics().calls == 0


def test_failing_probes_reopen_the_breaker() -> None:
    breaker, clock = open_then_half_open()
    outcome(breaker)
    outcome(breaker, fail=True)  # 50 % >= threshold
    assert breaker.state is State.OPEN
    assert breaker.retry_after_s() == pytest.approx(5.0)
    clock.now += 5.0
    assert breaker.try_acquire()


def test_slow_probes_reopen_the_breaker() -> None:
    breaker, _ = open_then_half_open(slow_call_rate_threshold=50.0)
    outcome(breaker, duration=2.0)
    outcome(breaker)
    assert breaker.state is State.OPEN


def test_ignored_exceptions_are_neither_success_nor_failure_and_free_a_probe_slot() -> None:
    breaker, _ = open_then_half_open(ignore_exceptions=(KeyError,))
    assert breaker.try_acquire() and breaker.try_acquire()
    breaker.on_error(0.01, KeyError("not found"))
    assert breaker.try_acquire()  # the slot came back
    breaker.on_success(0.01)
    breaker.on_success(0.01)
    assert breaker.state is State.CLOSED


def test_record_failure_predicate_decides_which_exceptions_count() -> None:
    breaker, _ = make(record_failure=lambda exc: isinstance(exc, ConnectionError))
    for _ in range(10):
        breaker.acquire()
        breaker.on_error(0.01, ValueError("bad input"))
    assert breaker.state is State.CLOSED
    for _ in range(4):
        outcome(breaker, fail=True)
    assert breaker.state is State.OPEN


async def test_call_records_outcomes_and_does_not_run_fn_when_open() -> None:
    breaker, _ = make(minimum_calls=2, window_size=2)
    ran = 0

    async def failing() -> None:
        nonlocal ran
        ran += 1
        raise ConnectionError("refused")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            await breaker.call(failing)
    with pytest.raises(BreakerOpen):
        await breaker.call(failing)
    assert ran == 2


def test_state_and_transitions_are_published_as_prometheus_metrics() -> None:
    breaker, clock = make(name="metrics-probe")

    def sample(metric: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(metric, labels)

    assert sample("athbench_breaker_state", name="metrics-probe") == 0
    for _ in range(4):
        outcome(breaker, fail=True)
    assert sample("athbench_breaker_state", name="metrics-probe") == 1
    clock.now += 5
    breaker.try_acquire()
    assert sample("athbench_breaker_state", name="metrics-probe") == 2
    assert sample("athbench_breaker_transitions_total", name="metrics-probe", from_state="closed", to_state="open") == 1
    assert sample("athbench_breaker_calls_total", name="metrics-probe", outcome="failure") == 4


def test_bad_configuration_is_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="failure_rate_threshold"):
        BreakerConfig(failure_rate_threshold=0)
    with pytest.raises(ValueError, match="window_type"):
        BreakerConfig(window_type="sliding")
    with pytest.raises(ValueError, match="minimum_calls"):
        BreakerConfig(minimum_calls=0)
