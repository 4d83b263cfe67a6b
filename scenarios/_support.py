"""Small helpers shared by scenario modules (not a scenario: the leading underscore keeps it out of packs)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg

from harness.load.result import LoadResult
from harness.probe import Probe
from harness.results import ScenarioResult
from scenarios.base import ScenarioError

ASSESSMENT_PATH = "/api/v1/properties/{id}/energy-assessment"


def property_ids(dsn: str, limit: int = 0) -> list[int]:
    """The seeded property ids, ascending (the first `limit` of them when `limit` > 0)."""

    async def fetch() -> list[int]:
        conn = await asyncpg.connect(dsn)
        try:
            query = "SELECT id FROM properties ORDER BY id" + (f" LIMIT {int(limit)}" if limit > 0 else "")
            return [int(r["id"]) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    ids = asyncio.run(fetch())
    if not ids:
        raise ScenarioError("the database has no properties: seed it first (athbench seeds an empty database)")
    return ids


def mark_invalid(result: ScenarioResult, reason: str) -> None:
    """Mark the run invalid (not graded), keeping earlier reasons."""
    result.status = "invalid"
    result.reason = reason if not result.reason else f"{result.reason}; {reason}"


def closed_phase_point(load: LoadResult, **fields: Any) -> dict[str, Any]:
    """One closed-model load phase as a point of `details["points"]`: `fields` (what was varied) plus the
    throughput of successful requests, p95 (uncorrected: a closed model has no schedule), error rate and
    validity."""
    overall = load.overall
    return {
        **fields,
        "throughput_rps": (overall.count - overall.error_count) / load.duration_s,
        "p95_ms": overall.latency_ms("p95"),
        "error_rate": overall.error_rate,
        "valid": load.valid,
    }


def finish_closed_phases(result: ScenarioResult, invalid: Sequence[str], machine_note: str) -> None:
    """Record, after closed-model phases, where they ran and how latency was timed; mark generator faults."""
    result.details.update(
        machine={"cpus": os.cpu_count(), "note": machine_note},
        latency_basis="closed model: uncorrected latency (no schedule)",
    )
    if invalid:
        mark_invalid(result, "; ".join(invalid))


def counterbalanced(modes: Sequence[str], repetitions: int) -> Iterator[tuple[int, str]]:
    """(repetition, mode) in A B, B A, A B ... order, so a drift of the machine favours neither mode."""
    for rep in range(repetitions):
        for mode in modes if rep % 2 == 0 else tuple(reversed(modes)):
            yield rep, mode


def check_generator(result: ScenarioResult, probes: Sequence[Probe], lag_p50_ms: float, tolerance_ms: float) -> None:
    """Mark `result` invalid when the request generator itself fell behind its schedule (median send lag)."""
    if probes and lag_p50_ms > tolerance_ms:
        mark_invalid(
            result,
            f"load generator fell behind: requests sent {lag_p50_ms:.0f} ms late at the median "
            f"(tolerance {tolerance_ms:g} ms)",
        )
