"""Run-time fault injection for the market-data upstream: latency, errors, blackhole."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import asdict, dataclass
from typing import Any

DISTRIBUTIONS = ("uniform", "exponential")


class FaultSpecError(ValueError):
    """A fault specification is malformed; the message names the field."""


@dataclass(frozen=True)
class FaultSpec:
    """`latency_ms` fixed delay plus a random part: uniform in [0, jitter] or exponential with mean jitter.
    `error_rate` of requests get `error_status`; `blackhole` accepts requests and never answers
    (until the blackhole is lifted)."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    latency_distribution: str = "uniform"
    error_rate: float = 0.0
    error_status: int = 503
    blackhole: bool = False

    @classmethod
    def from_json(cls, data: Any) -> FaultSpec:
        if not isinstance(data, dict):
            raise FaultSpecError("body must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise FaultSpecError(f"unknown field(s): {', '.join(sorted(unknown))}")
        values = {**asdict(cls()), **data}
        for name in ("latency_ms", "latency_jitter_ms", "error_rate"):
            v = values[name]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise FaultSpecError(f"{name} must be a non-negative number, got {v!r}")
        if values["error_rate"] > 1:
            raise FaultSpecError(f"error_rate must be between 0 and 1, got {values['error_rate']!r}")
        if values["latency_distribution"] not in DISTRIBUTIONS:
            raise FaultSpecError(f"latency_distribution must be one of {', '.join(DISTRIBUTIONS)}")
        status = values["error_status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultSpecError(f"error_status must be an HTTP error status (400-599), got {status!r}")
        if not isinstance(values["blackhole"], bool):
            raise FaultSpecError(f"blackhole must be true or false, got {values['blackhole']!r}")
        return cls(**values)

    def delay_s(self, rng: random.Random) -> float:
        jitter = self.latency_jitter_ms
        if jitter and self.latency_distribution == "exponential":
            extra = rng.expovariate(1.0 / jitter)
        else:
            extra = rng.uniform(0.0, jitter) if jitter else 0.0
        return (self.latency_ms + extra) / 1000.0


class FaultState:
    """The current fault spec and counters; `apply()` is awaited by every data request."""

    def __init__(self, seed: int = 0) -> None:
        self.spec = FaultSpec()
        self._rng = random.Random(seed)
        self._lifted = asyncio.Event()
        self._lifted.set()
        self.requests = 0
        self.errors_injected = 0
        self.blackholed = 0

    def set(self, spec: FaultSpec) -> None:
        self.spec = spec
        if spec.blackhole:
            self._lifted.clear()
        else:
            self._lifted.set()

    def reset(self) -> None:
        self.set(FaultSpec())

    async def apply(self) -> int | None:
        """Delay or hold the request as configured; returns an error status to answer with, or None."""
        self.requests += 1
        if not self._lifted.is_set():
            self.blackholed += 1
            await self._lifted.wait()
        spec = self.spec
        delay = spec.delay_s(self._rng)
        if delay > 0:
            await asyncio.sleep(delay)
        if spec.error_rate and self._rng.random() < spec.error_rate:
            self.errors_injected += 1
            return spec.error_status
        return None

    def describe(self) -> dict[str, Any]:
        return {
            **asdict(self.spec),
            "counters": {
                "requests": self.requests,
                "errors_injected": self.errors_injected,
                "blackholed": self.blackholed,
            },
        }
