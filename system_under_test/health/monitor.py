"""Health rounds, readiness and the background health loop, in the two profiles.

- baseline: checks run one after another and `system:cpu` comes from
  `blocking_cpu_percent_on_event_loop()` (one second with the event loop stopped), every 30 s.
- optimized: checks run concurrently and `system:cpu` is read from the non-blocking `CpuSampler`,
  every 15 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from system_under_test.db import Database
from system_under_test.health import checks
from system_under_test.health.checks import CheckResult, Status
from system_under_test.health.cpu import CpuSampler, blocking_cpu_percent_on_event_loop
from system_under_test.metrics import HEALTH_ROUND_DURATION, HEALTH_ROUND_INTERVAL
from system_under_test.settings import Profile

SERVICE_ID = "athbench-system-under-test"
VERSION = "1"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One round of checks."""

    status: Status
    checks: list[CheckResult]
    duration_s: float

    def as_json(self, profile: Profile) -> dict[str, Any]:
        """`application/health+json` body."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for c in self.checks:
            grouped.setdefault(c.key, []).append(c.as_json())
        return {
            "status": self.status,
            "version": VERSION,
            "serviceId": SERVICE_ID,
            "description": f"athbench service under test ({profile} profile)",
            "checks": grouped,
        }


class HealthMonitor:
    """Runs health rounds on demand and periodically in the background."""

    def __init__(
        self,
        profile: Profile,
        db: Database,
        redis: aioredis.Redis,
        interval_s: float,
        cpu_sampler: CpuSampler | None,
    ) -> None:
        self.profile = profile
        self.db = db
        self.redis = redis
        self.interval_s = interval_s
        self.cpu_sampler = cpu_sampler
        self.started_monotonic = time.monotonic()
        self.latest: HealthReport | None = None
        self.rounds = 0
        #: Further (name, check) pairs added by optional components (e.g. `backup:rpo`).
        self.extra_checks: list[tuple[str, Callable[[], Awaitable[list[CheckResult]]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def _baseline_cpu(self) -> list[CheckResult]:
        return checks.system_cpu(blocking_cpu_percent_on_event_loop())

    async def _sampled_cpu(self) -> list[CheckResult]:
        assert self.cpu_sampler is not None  # the optimized profile always has a sampler
        percent = self.cpu_sampler.system_percent
        if percent is None:
            return [CheckResult("system:cpu", "system", "warn", None, "percent", checks.now_iso(), "no sample yet")]
        return checks.system_cpu(percent)

    def _checks(self) -> list[tuple[str, Callable[[], Awaitable[list[CheckResult]]]]]:
        cpu = self._baseline_cpu if self.profile == "baseline" else self._sampled_cpu
        return [
            ("postgres", lambda: checks.postgres(self.db)),
            ("redis", lambda: checks.redis_utilization(self.redis)),
            ("system:cpu", cpu),
            ("system:memory", checks.system_memory),
            ("uptime", lambda: checks.uptime(self.started_monotonic)),
            *self.extra_checks,
        ]

    async def run_round(self) -> HealthReport:
        """All checks once: sequentially in baseline, concurrently in optimized."""
        started = time.perf_counter()
        if self.profile == "baseline":
            results = [await checks.timed(name, check) for name, check in self._checks()]
        else:
            results = await asyncio.gather(*(checks.timed(name, check) for name, check in self._checks()))
        flat = [entry for group in results for entry in group]
        duration = time.perf_counter() - started
        HEALTH_ROUND_DURATION.observe(duration)
        report = HealthReport(checks.worst([c.status for c in flat]), flat, duration)
        self.latest = report
        self.rounds += 1
        return report

    async def readiness(self) -> dict[str, Status]:
        """PostgreSQL and Redis reachable, checked concurrently with a timeout each."""
        pg, rd = await asyncio.gather(
            checks.timed("ready:postgres", self._ping_postgres), checks.timed("ready:redis", self._ping_redis)
        )
        return {"postgres": checks.worst([c.status for c in pg]), "redis": checks.worst([c.status for c in rd])}

    async def _ping_postgres(self) -> list[CheckResult]:
        await self.db.fetchval("SELECT 1")
        return [CheckResult("postgres:reachable", "datastore", "pass", 1, "", checks.now_iso())]

    async def _ping_redis(self) -> list[CheckResult]:
        await self.redis.ping()
        return [CheckResult("redis:reachable", "datastore", "pass", 1, "", checks.now_iso())]

    def start(self) -> None:
        """Start the background health loop (a round every `interval_s`, the first after one interval)."""
        self._task = asyncio.create_task(self._loop(), name=f"health-loop-{self.profile}")

    async def stop(self) -> None:
        """Stop the background loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        """A round every `interval_s` after the previous one ended; start-to-start times are observed in
        `athbench_health_round_interval_seconds` (the actual interval, round time and loop delays included)."""
        previous: float | None = None
        while True:
            await asyncio.sleep(self.interval_s)
            started = time.monotonic()
            if previous is not None:
                HEALTH_ROUND_INTERVAL.observe(started - previous)
            previous = started
            await self.run_round()
