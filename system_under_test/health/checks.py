"""Individual health checks, each producing entries of the health-check response format draft
(`application/health+json`): status pass/warn/fail, observedValue, observedUnit, time.

Thresholds: utilisation checks (connections, Redis memory, system CPU and memory) warn at 85 % and
fail at 95 %; PostgreSQL response time warns above 100 ms; an error or a timeout fails the check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import psutil
import redis.asyncio as aioredis

from system_under_test.db import Database
from system_under_test.metrics import HEALTH_CHECK_DURATION

Status = Literal["pass", "warn", "fail"]
STATUS_ORDER: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}
WARN_PERCENT = 85.0
FAIL_PERCENT = 95.0
SLOW_RESPONSE_MS = 100.0
CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One entry under a `checks` key (e.g. `postgres:responseTime`)."""

    key: str
    component_type: str
    status: Status
    observed_value: float | int | None
    observed_unit: str
    time: str
    output: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The draft's JSON shape."""
        body: dict[str, Any] = {
            "componentType": self.component_type,
            "observedValue": self.observed_value,
            "observedUnit": self.observed_unit,
            "status": self.status,
            "time": self.time,
        }
        if self.output:
            body["output"] = self.output
        return body


def now_iso() -> str:
    """Current UTC time, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utilisation_status(percent: float) -> Status:
    """85 % warn, 95 % fail."""
    if percent >= FAIL_PERCENT:
        return "fail"
    return "warn" if percent >= WARN_PERCENT else "pass"


def worst(statuses: list[Status]) -> Status:
    """The most severe status (pass when empty)."""
    return max(statuses, key=STATUS_ORDER.__getitem__, default="pass")


async def timed(name: str, check: Callable[[], Awaitable[list[CheckResult]]]) -> list[CheckResult]:
    """Run a check with a timeout, record its duration, and turn errors into `fail` entries."""
    started = time.perf_counter()
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure of a dependency is a failed check, never a crash
        reason = f"timed out after {CHECK_TIMEOUT_S} s" if isinstance(exc, TimeoutError) else repr(exc)
        return [CheckResult(f"{name}:reachable", "component", "fail", None, "", now_iso(), reason)]
    finally:
        HEALTH_CHECK_DURATION.labels(name).observe(time.perf_counter() - started)


async def postgres(db: Database) -> list[CheckResult]:
    """`postgres:responseTime` (round trip of SELECT 1) and `postgres:connections` (client backends
    in pg_stat_activity against max_connections)."""
    started = time.perf_counter()
    await db.fetchval("SELECT 1")
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    row = await db.fetchrow(
        "SELECT count(*) AS total, count(*) FILTER (WHERE state = 'active') AS active, "
        "current_setting('max_connections')::int AS max FROM pg_stat_activity "
        "WHERE backend_type = 'client backend'"
    )
    assert row is not None  # an aggregate always returns a row
    percent = 100.0 * row["total"] / row["max"]
    stamp = now_iso()
    return [
        CheckResult(
            "postgres:responseTime",
            "datastore",
            "warn" if elapsed_ms > SLOW_RESPONSE_MS else "pass",
            round(elapsed_ms, 3),
            "ms",
            stamp,
        ),
        CheckResult(
            "postgres:connections",
            "datastore",
            utilisation_status(percent),
            row["total"],
            "connections",
            stamp,
            f"{row['total']} of max_connections {row['max']} ({percent:.1f} %), {row['active']} active",
        ),
    ]


async def redis_utilization(client: aioredis.Redis) -> list[CheckResult]:
    """`redis:utilization`: used memory against maxmemory (or the machine's memory when unlimited)."""
    info = await client.info("memory")
    limit = int(info.get("maxmemory", 0)) or psutil.virtual_memory().total
    percent = 100.0 * int(info["used_memory"]) / limit
    return [
        CheckResult(
            "redis:utilization",
            "datastore",
            utilisation_status(percent),
            round(percent, 3),
            "percent",
            now_iso(),
            f"used_memory {info['used_memory']} bytes of {limit}",
        )
    ]


def system_cpu(percent: float) -> list[CheckResult]:
    """`system:cpu` from a CPU percentage however it was obtained."""
    return [CheckResult("system:cpu", "system", utilisation_status(percent), round(percent, 2), "percent", now_iso())]


async def system_memory() -> list[CheckResult]:
    """`system:memory`: used share of the machine's memory."""
    percent = psutil.virtual_memory().percent
    return [CheckResult("system:memory", "system", utilisation_status(percent), percent, "percent", now_iso())]


async def uptime(started_monotonic: float) -> list[CheckResult]:
    """`uptime`: seconds since the service started (always passes)."""
    seconds = round(time.monotonic() - started_monotonic, 3)
    return [CheckResult("uptime", "system", "pass", seconds, "s", now_iso())]
