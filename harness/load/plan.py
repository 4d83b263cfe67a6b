"""Load models: a closed model (N users, no think time) and an open model (a target arrival rate).

An open plan is a list of segments, each with a duration and a rate that goes linearly from
``start_rps`` to ``end_rps``: a constant rate is one flat segment, a stepped rate several flat ones,
a ramp one sloped segment. `OpenPlan.arrivals` turns it into the scheduled start time of every request
(seconds from the start of the run), independent of how fast the server answers.

Both plans carry the length of the measured window; the warm-up comes before it (open model: at the
first segment's starting rate) and is given to `harness.load.runner.run_load`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClosedPlan:
    """N users, each sending its next request as soon as the previous one finished."""

    users: int
    duration_s: float

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"ClosedPlan.users must be >= 1, got {self.users}")
        _check_duration("ClosedPlan.duration_s", self.duration_s)

    @property
    def model(self) -> str:
        return "closed"

    def to_dict(self) -> dict[str, Any]:
        return {"model": "closed", "users": self.users, "duration_s": self.duration_s}


@dataclass(frozen=True)
class Segment:
    """A stretch of the open plan whose rate goes linearly from start_rps to end_rps."""

    duration_s: float
    start_rps: float
    end_rps: float

    def __post_init__(self) -> None:
        _check_duration("Segment.duration_s", self.duration_s)
        if self.start_rps < 0 or self.end_rps < 0:
            raise ValueError(f"Segment rates must be >= 0, got {self.start_rps} .. {self.end_rps}")

    @property
    def requests(self) -> float:
        """Expected number of arrivals in the segment (the integral of the rate)."""
        return (self.start_rps + self.end_rps) / 2.0 * self.duration_s

    def time_of(self, n: float) -> float:
        """Offset into the segment at which the cumulative arrival count reaches n (0 <= n <= requests)."""
        a, slope = self.start_rps, (self.end_rps - self.start_rps) / self.duration_s
        if abs(slope) < 1e-12:
            return n / a
        k = slope / 2.0
        return (-a + math.sqrt(max(a * a + 4.0 * k * n, 0.0))) / (2.0 * k)


@dataclass(frozen=True)
class OpenPlan:
    """A target arrival rate over time; requests are issued from a schedule, not from responses.

    ``users`` is the pool of concurrent connections that carry the schedule: enough of them keeps the
    schedule even when the server slows down; a small pool reproduces a fixed-connection generator
    (like wrk2), where a stall delays later sends and only the corrected latency shows it.
    ``arrival`` is ``uniform`` (evenly spaced) or ``poisson`` (exponential gaps, seeded).
    """

    segments: tuple[Segment, ...]
    users: int = 100
    arrival: str = "uniform"
    seed: int = 1

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("OpenPlan needs at least one segment")
        if self.users < 1:
            raise ValueError(f"OpenPlan.users must be >= 1, got {self.users}")
        if self.arrival not in ("uniform", "poisson"):
            raise ValueError(f"OpenPlan.arrival must be 'uniform' or 'poisson', got {self.arrival!r}")

    @classmethod
    def constant(cls, rate_rps: float, duration_s: float, **kwargs: Any) -> OpenPlan:
        return cls((Segment(duration_s, rate_rps, rate_rps),), **kwargs)

    @classmethod
    def stepped(cls, steps: list[tuple[float, float]], **kwargs: Any) -> OpenPlan:
        """Steps as (rate_rps, duration_s) pairs."""
        return cls(tuple(Segment(d, r, r) for r, d in steps), **kwargs)

    @classmethod
    def ramp(cls, start_rps: float, end_rps: float, duration_s: float, **kwargs: Any) -> OpenPlan:
        return cls((Segment(duration_s, start_rps, end_rps),), **kwargs)

    @property
    def model(self) -> str:
        return "open"

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    @property
    def peak_rps(self) -> float:
        return max(max(s.start_rps, s.end_rps) for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "open",
            "segments": [[s.duration_s, s.start_rps, s.end_rps] for s in self.segments],
            "users": self.users,
            "arrival": self.arrival,
            "seed": self.seed,
            "duration_s": self.duration_s,
        }

    def arrivals(self, warmup_s: float = 0.0, share: float = 1.0, phase: float = 0.0) -> Iterator[float]:
        """Scheduled start times (seconds from the run's start), warm-up first, in increasing order.

        ``share`` scales every rate (a worker's part of a distributed plan); ``phase`` in [0, 1) shifts
        uniform arrivals by that fraction of a gap, so N workers with phases i/N interleave evenly.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        segments = list(self.segments)
        if warmup_s > 0:
            first = segments[0].start_rps
            segments.insert(0, Segment(warmup_s, first, first))
        rng = random.Random(self.seed + int(phase * 1_000_003))
        n = phase if self.arrival == "uniform" else rng.expovariate(1.0)
        offset = 0.0
        for segment in segments:
            total = segment.requests * share
            while n < total:
                yield offset + segment.time_of(n / share)
                n += 1.0 if self.arrival == "uniform" else rng.expovariate(1.0)
            n -= total
            offset += segment.duration_s


def plan_from_dict(data: dict[str, Any]) -> ClosedPlan | OpenPlan:
    """Inverse of ``to_dict`` of either plan; a clear error names what is wrong."""
    model = data.get("model")
    if model == "closed":
        return ClosedPlan(users=int(data["users"]), duration_s=float(data["duration_s"]))
    if model == "open":
        segments = tuple(Segment(float(d), float(a), float(b)) for d, a, b in data["segments"])
        return OpenPlan(segments, users=int(data["users"]), arrival=str(data["arrival"]), seed=int(data["seed"]))
    raise ValueError(f"plan model must be 'closed' or 'open', got {model!r}")


def _check_duration(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number of seconds, got {value}")
