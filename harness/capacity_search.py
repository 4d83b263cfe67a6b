"""Capacity search: the highest offered rate whose step meets the SLO, found reproducibly.

A pure algorithm over a callback `measure(rate_rps, duration_s) -> StepOutcome` (one open-model load
step at a constant rate), so it is tested without a server:

1. *Ramp* to bracket: from `start_rps` up by `ramp_factor` until a step fails (or `max_rps` passes); if the
   first step fails, down by the same factor until one passes (or the rate falls below `min_rps`).
2. *Bisection* (geometric mean) between the last passing and the first failing rate, until
   first failing / last passing <= 1 + `resolution`.
3. *Confirmation*: the found rate again, `confirm_factor` times longer (and at least `min_confirm_s`). If
   it fails, the short steps have over-promised: it becomes the upper end of the bracket, the lower end is
   the highest rate that passed a step as long (or one ramp factor lower), and 2-3 repeat with every step
   as long as a confirmation (at most `confirmations` times; then no rate is reported).

A failure is checked as a pass is (`recheck_failures`): a ramp or bisection step that fails for the
service's sake is measured again at once, as long as a confirmation, and the longer step's verdict
stands. A service with periodic stalls (a health round that blocks the event loop for a second, a view
refresh, a checkpoint) fails any short step that contains one: unchecked, one such step below the limit
sent the search down for good (two quick runs on the same code found 275 and 463 req/s). A step the load
generator limited is not rechecked for the service's sake: that limit is not the service's. It is
measured once more as it was (`generator_remeasures`, stage "remeasure"): on a shared machine a moment
without CPU limits the generator at any rate (one CI run's search ended at 21 req/s, "load generator",
on a service that holds 60), while a generator at its real limit fails the second step as well.

`min_confirm_s` makes every verdict that stands (confirmations, rechecks, and every step after a failed
confirmation) last whole periods of the service's periodic work, so a stall counts with its long-run
share and not all or nothing: a 2 s step at 450 req/s fails on any 100 ms hiccup (its p95 is the slowest
45 requests) and passes when it misses the baseline's 1 s health round every 30 s, and near the limit a
stall's backlog delays far more requests than the stall lasts. At 1,000,000 properties a search with 2-6 s
steps confirmed no rate for the baseline (its trivial endpoint failed at 200 req/s, p95 802 ms, in a step
that held a health round). A window of exactly one period holds exactly one period's stall.

Every step lasts long enough for its p95 to hold `min_requests` requests (at least `min_step_s`, at most
`max_step_s`). A step passes when its p95 (corrected, open model) <= `slo_p95_ms`, its error rate <=
`error_budget`, it answered >= `keep_up` x the offered rate, and its phase was neither backlogged (its
percentiles are then lower bounds) nor limited by the load generator. When the step that bounds the result
from above failed because of the generator, the result is a lower bound (`limited_by = "load generator"`);
when `max_rps` itself passed, too (`"max_rps reached"`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Stage = Literal["ramp", "bisect", "recheck", "remeasure", "confirm"]
LimitedBy = Literal["service", "load generator", "max_rps reached", "min_rps reached", "unconfirmed"]


@dataclass(frozen=True)
class StepOutcome:
    """What one load step at a constant offered rate measured."""

    offered_rps: float
    duration_s: float
    requests: int  # requests the step's p95 is computed from
    p95_ms: float | None  # corrected for coordinated omission (open model)
    error_rate: float
    throughput_rps: float  # answered (successful) requests per second
    backlogged: bool = False  # sends fell behind or never happened: percentiles are lower bounds
    generator_limited: bool = False  # the load generator, not the service, was the limit
    note: str | None = None  # e.g. the load phase's invalid reason


@dataclass(frozen=True)
class SearchConfig:
    """Pass criteria, the rates to search and how long and how finely to measure."""

    slo_p95_ms: float
    error_budget: float = 0.01
    keep_up: float = 0.95
    start_rps: float = 200.0
    max_rps: float = 10_000.0
    min_rps: float = 1.0
    ramp_factor: float = 2.0
    resolution: float = 0.1
    min_requests: int = 300
    min_step_s: float = 1.0
    max_step_s: float = 20.0
    confirm_factor: float = 2.0
    min_confirm_s: float = 0.0  # confirmations and rechecks last at least this long
    confirmations: int = 3
    recheck_failures: bool = True
    generator_remeasures: int = 1  # a step the load generator limited is measured again this often

    def __post_init__(self) -> None:
        if not 0 < self.min_rps <= self.start_rps <= self.max_rps:
            raise ValueError(
                f"capacity search needs 0 < min_rps <= start_rps <= max_rps, got {self.min_rps:g}, "
                f"{self.start_rps:g}, {self.max_rps:g}"
            )
        if self.ramp_factor <= 1 + self.resolution or self.resolution <= 0:
            raise ValueError(
                f"capacity search needs resolution > 0 and ramp_factor > 1 + resolution, got "
                f"{self.resolution:g} and {self.ramp_factor:g}"
            )
        if self.min_requests < 1 or not 0 < self.min_step_s <= self.max_step_s:
            raise ValueError("capacity search needs min_requests >= 1 and 0 < min_step_s <= max_step_s")
        if self.confirm_factor < 1 or self.confirmations < 1 or self.min_confirm_s < 0:
            raise ValueError("capacity search needs confirm_factor >= 1, confirmations >= 1 and min_confirm_s >= 0")
        if self.generator_remeasures < 0:
            raise ValueError("capacity search needs generator_remeasures >= 0")

    def step_s(self, rate_rps: float) -> float:
        """A step long enough for `min_requests` requests at `rate_rps`, within [min_step_s, max_step_s]."""
        return min(max(self.min_step_s, self.min_requests / rate_rps), self.max_step_s)

    def confirm_s(self, rate_rps: float) -> float:
        """How long a confirmation or a recheck at `rate_rps` lasts."""
        return max(self.step_s(rate_rps) * self.confirm_factor, self.min_confirm_s)


@dataclass(frozen=True)
class Step:
    """One measured step, its stage in the search and its verdict."""

    stage: Stage
    outcome: StepOutcome
    reasons: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.outcome.offered_rps

    @property
    def passed(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, **asdict(self.outcome), "passed": self.passed, "why": list(self.reasons)}


@dataclass
class SearchResult:
    """The sustainable rate (None when none was found or confirmed), what ended the search, every step."""

    rate_rps: float | None
    limited_by: LimitedBy
    steps: list[Step] = field(default_factory=list)

    @property
    def lower_bound(self) -> bool:
        """True when the service's true limit lies above `rate_rps` (the search ended elsewhere)."""
        return self.limited_by in ("load generator", "max_rps reached")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rate_rps": self.rate_rps,
            "limited_by": self.limited_by,
            "lower_bound": self.lower_bound,
            "steps": [s.to_dict() for s in self.steps],
        }


def judge(outcome: StepOutcome, config: SearchConfig) -> tuple[str, ...]:
    """Why a step fails (empty: it passes)."""
    reasons = []
    if outcome.generator_limited:
        reasons.append(f"load generator was the limit ({outcome.note or 'invalid phase'})")
    if outcome.backlogged:
        reasons.append(f"backlogged: {outcome.note or 'sends fell behind the schedule'}")
    if outcome.p95_ms is None:
        reasons.append("no latency recorded")
    elif outcome.p95_ms > config.slo_p95_ms:
        reasons.append(f"p95 {outcome.p95_ms:.1f} ms > SLO {config.slo_p95_ms:g} ms")
    if outcome.error_rate > config.error_budget:
        reasons.append(f"errors {outcome.error_rate:.2%} > budget {config.error_budget:.2%}")
    if outcome.throughput_rps < config.keep_up * outcome.offered_rps:
        reasons.append(f"answered {outcome.throughput_rps:.0f} of {outcome.offered_rps:g} req/s offered")
    return tuple(reasons)


Measure = Callable[[float, float], StepOutcome]


def search(measure: Measure, config: SearchConfig) -> SearchResult:
    """Ramp to bracket, bisect to `resolution`, confirm with a longer step (see the module docstring)."""
    steps: list[Step] = []

    long_steps = False  # after a failed confirmation: the short steps have been shown to over-promise

    def measured(rate: float, duration: float, stage: Stage) -> Step:
        """One step; one the load generator limited is measured again as it was (`generator_remeasures`)."""
        outcome = measure(rate, duration)
        for _ in range(config.generator_remeasures):
            if not outcome.generator_limited:
                break
            steps.append(Step(stage, outcome, judge(outcome, config)))
            stage, outcome = "remeasure", measure(rate, duration)
        step = Step(stage, outcome, judge(outcome, config))
        steps.append(step)
        return step

    def run(rate: float, stage: Stage) -> Step:
        long = long_steps or stage in ("confirm", "recheck")
        duration = config.confirm_s(rate) if long else config.step_s(rate)
        step = measured(rate, duration, stage)
        recheck = config.recheck_failures and not step.outcome.generator_limited
        if stage in ("ramp", "bisect") and not long and not step.passed and recheck:
            return run(rate, "recheck")
        return step

    low: float | None = None  # highest rate known (or assumed, see below) to pass
    high: Step | None = None  # the failing step that bounds the bracket from above
    rate = config.start_rps
    while True:  # ramp up
        step = run(rate, "ramp")
        if not step.passed:
            high = step
            break
        low = rate
        if rate >= config.max_rps:
            break
        rate = min(rate * config.ramp_factor, config.max_rps)
    while low is None:  # the first step failed: ramp down
        rate /= config.ramp_factor
        if rate < config.min_rps:
            return SearchResult(None, "min_rps reached", steps)
        step = run(rate, "ramp")
        if step.passed:
            low = rate
        else:
            high = step
    for _ in range(config.confirmations):
        while high is not None and high.rate / low > 1 + config.resolution:
            step = run(math.sqrt(low * high.rate), "bisect")
            if step.passed:
                low = step.rate
            else:
                high = step
        if run(low, "confirm").passed:
            return SearchResult(low, _limit(high), steps)
        high = steps[-1]
        long_steps = True
        below = [s.rate for s in steps if s.passed and s.rate < high.rate and _is_long(s, config)]
        # no step as long passed below: assume one ramp factor lower passes (the next confirmation checks it)
        low = max(below, default=high.rate / config.ramp_factor)
        if low < config.min_rps:
            return SearchResult(None, "min_rps reached", steps)
    return SearchResult(None, "unconfirmed", steps)


def _is_long(step: Step, config: SearchConfig) -> bool:
    return step.outcome.duration_s >= config.confirm_s(step.rate) * (1.0 - 1e-9)


def _limit(high: Step | None) -> LimitedBy:
    if high is None:
        return "max_rps reached"
    return "load generator" if high.outcome.generator_limited else "service"
