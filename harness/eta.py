"""How long a pack will take: each scenario's expected seconds from its own parameters, corrected as it runs.

The rule (an estimate, shown only as progress, never recorded as a result):
expected = `SCENARIO_OVERHEAD_S` (service restart, sampling set-up, per-scenario work outside phases)
+ rounds x the sum of its phase durations, where
- a phase duration is a numeric parameter named ``*_s`` (``duration_s``, ``warmup_s``, ``soak_s``, ...),
  except the exponent ``zipf_s`` and limits or intervals that are not phases (``*timeout_s``,
  ``*threshold_s``, ``*interval_s``, ``poll_s``, ``lead_s``, ``observe_s``, ``max_step_s``);
- rounds = ``repetitions`` (default 1) x the length of the longest list parameter (the worker counts,
  faults, concurrency levels or rates each get their own phases).
A scenario whose time its parameters do not tell (searches, waits for intervals) gives its own estimate
(`Scenario.estimate`). `remaining_s` scales what is left by how long the finished scenarios really took
against their estimates, shrunk toward 1 by a prior worth a quarter of the whole pack's estimate, so one
scenario that ran over at the start does not multiply the hour that follows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SCENARIO_OVERHEAD_S = 10.0
PRIOR_WEIGHT = 0.25  # the estimate's weight in the scale, as a share of the whole pack's expected seconds
_NOT_PHASES = ("zipf_s", "timeout_s", "threshold_s", "interval_s", "poll_s", "lead_s", "observe_s", "max_step_s")


def expected_seconds(params: Mapping[str, Any]) -> float:
    """A scenario's expected wall time from its parameters, by the rule of this module."""
    phases = sum(
        float(value)
        for key, value in params.items()
        if key.endswith("_s")
        and not key.endswith(_NOT_PHASES)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    )
    repetitions = params.get("repetitions", 1)
    repetitions = repetitions if isinstance(repetitions, int) and not isinstance(repetitions, bool) else 1
    lists = [len(value) for value in params.values() if isinstance(value, list)]
    rounds = max(1, repetitions) * max([1, *lists])
    return SCENARIO_OVERHEAD_S + rounds * phases


def remaining_s(expected: Sequence[float], finished: int, spent_s: float) -> float:
    """Seconds left once `finished` of the `expected` scenario times are done, after `spent_s` seconds."""
    done_expected = sum(expected[:finished])
    prior = PRIOR_WEIGHT * sum(expected)
    scale = (spent_s + prior) / (done_expected + prior) if finished and prior > 0 else 1.0
    return scale * sum(expected[finished:])
