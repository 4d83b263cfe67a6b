"""consistency: how often, and for how long, a read after an acknowledged write still returns the old value.

One trial: `readers` concurrent clients read one property's energy assessment back to back; after
`lead_s` (the key is cached, reads are in flight) the writer PATCHes the property's price with the admin
token and notes when the 200 arrived (the acknowledgement); the readers go on for `observe_s` more. Every
read *sent* after the acknowledgement must carry the new price: one carrying the old price is stale.
Reads sent before it are not judged (they may be linearized before the write). The price is put back
afterwards (outside the observation). Trials use distinct properties.

Two modes, each `writes` trials per repetition:
- `in_process`: the service restarted with one worker (L1, in-flight loads, Redis of one process);
- `cross_process`: two workers (`ctx.restart_service(workers=2)`); every read opens a new connection so
  the kernel spreads reads over both workers while the write lands on one.

Per mode and repetition: `stale_read_share_<mode>` (stale reads / judged reads) and the staleness window of
each write (from its acknowledgement to the arrival of its last stale answer; 0 when none), summarized as
`staleness_p99_ms_<mode>` (nearest rank) and `staleness_max_ms_<mode>`. A write with a stale read sent in
the last tenth of its observation may have stayed stale longer: its window is a lower bound, and so are
that repetition's p99 and max (recorded "at least").
The service is restarted with the stack's default worker count at the end.

details: per mode and repetition the counts (writes, judged reads, stale reads, failed reads/writes,
writes still stale at the end) and every write's window; `reads_before_ack`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from scenarios.base import MetricSpec, Scenario, ScenarioContext, ScenarioError, ScenarioResult

ASSESSMENT_PATH = "/api/v1/properties/{id}/energy-assessment"
PROPERTY_PATH = "/api/v1/properties/{id}"
MODES = {"in_process": 1, "cross_process": 2}  # mode -> service workers


def _metrics() -> tuple[MetricSpec, ...]:
    specs = []
    for mode, where in (("in_process", "one service process"), ("cross_process", "two service workers")):
        specs += [
            MetricSpec(
                f"stale_read_share_{mode}",
                "fraction",
                "lower",
                "caching",
                f"share of reads sent after an acknowledged write that returned the old value ({where})",
            ),
            MetricSpec(
                f"staleness_p99_ms_{mode}",
                "ms",
                "lower",
                "caching",
                f"p99 over writes of how long after the acknowledgement old values were still answered ({where})",
            ),
            MetricSpec(
                f"staleness_max_ms_{mode}",
                "ms",
                "lower",
                "caching",
                f"longest time after an acknowledged write an old value was still answered ({where})",
            ),
        ]
    return tuple(specs)


@dataclass
class Trial:
    """The reads around one write."""

    property_id: int
    ack: float | None = None  # monotonic time the PATCH's 200 arrived
    reads: list[tuple[float, float, float | None]] = field(default_factory=list)  # (sent, received, price)
    failed_reads: int = 0

    def judged(self) -> list[tuple[float, float, float | None]]:
        assert self.ack is not None
        return [r for r in self.reads if r[0] >= self.ack]


@dataclass
class Outcome:
    """One write's verdict."""

    judged: int
    stale: int
    window_ms: float
    censored: bool  # still stale at the end of the observation: the window is a lower bound


#: A write with a stale read sent in the last tenth of its observation counts as still stale at its end
#: (across workers a fresh answer from the writer's worker says nothing about the other one).
CENSOR_FROM = 0.9


def judge(trial: Trial, old: float, new: float, observe_s: float) -> Outcome:
    """Stale reads among those sent after the acknowledgement, and the staleness window."""
    assert trial.ack is not None
    judged = sorted(trial.judged())
    stale = [r for r in judged if r[2] is not None and r[2] != new]
    unexpected = [r for r in stale if r[2] != old]
    if unexpected:
        raise ScenarioError(
            f"property {trial.property_id}: a read returned price {unexpected[0][2]}, neither old nor new"
        )
    window = max((received - trial.ack for _, received, _ in stale), default=0.0)
    censored = any(sent >= trial.ack + CENSOR_FROM * observe_s for sent, _, _ in stale)
    return Outcome(len(judged), len(stale), 1000.0 * window, censored)


async def _price(client: httpx.AsyncClient, property_id: int) -> float | None:
    response = await client.get(ASSESSMENT_PATH.format(id=property_id))
    if response.status_code != 200:
        return None
    return float(response.json()["property"]["price_eur"])


async def _reader(client: httpx.AsyncClient, trial: Trial, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sent = time.monotonic()
        try:
            price = await _price(client, trial.property_id)
        except httpx.HTTPError:
            trial.failed_reads += 1
            continue
        if price is None:
            trial.failed_reads += 1
        trial.reads.append((sent, time.monotonic(), price))


async def _patch(client: httpx.AsyncClient, property_id: int, price: float, headers: dict[str, str]) -> bool:
    response = await client.patch(PROPERTY_PATH.format(id=property_id), json={"price_eur": price}, headers=headers)
    return response.status_code == 200


async def _trials(url: str, ids: list[int], params: dict[str, Any], headers: dict[str, str], fresh: bool) -> dict:
    """Run one trial per property id; returns the outcomes and counts."""
    limits = httpx.Limits(max_keepalive_connections=0) if fresh else httpx.Limits()
    readers = [httpx.AsyncClient(base_url=url, timeout=10, limits=limits) for _ in range(params["readers"])]
    writer = httpx.AsyncClient(base_url=url, timeout=10)
    outcomes: list[Outcome] = []
    failed_writes = failed_reads = reads_before_ack = 0
    try:
        for property_id in ids:
            old = await _price(writer, property_id)
            if old is None:
                failed_writes += 1
                continue
            new = round(old + 1000.0 + random.random(), 2)
            trial, stop = Trial(property_id), asyncio.Event()
            tasks = [asyncio.create_task(_reader(c, trial, stop)) for c in readers]
            await asyncio.sleep(params["lead_s"])
            ok = await _patch(writer, property_id, new, headers)
            trial.ack = time.monotonic()
            await asyncio.sleep(params["observe_s"])
            stop.set()
            await asyncio.gather(*tasks)
            failed_reads += trial.failed_reads
            if not ok:
                failed_writes += 1
                continue
            reads_before_ack += len(trial.reads) - len(trial.judged())
            outcomes.append(judge(trial, old, new, params["observe_s"]))
            if not await _patch(writer, property_id, old, headers):  # put the price back
                raise ScenarioError(f"could not restore the price of property {property_id}")
    finally:
        for client in [*readers, writer]:
            await client.aclose()
    return {
        "outcomes": outcomes,
        "failed_writes": failed_writes,
        "failed_reads": failed_reads,
        "reads_before_ack": reads_before_ack,
    }


def nearest_rank(values: list[float], q: float) -> float:
    """The q-quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def record(ctx: ScenarioContext, mode: str, outcomes: list[Outcome]) -> dict[str, Any]:
    """One repetition's samples of `mode`; returns its summary for details."""
    judged = sum(o.judged for o in outcomes)
    stale = sum(o.stale for o in outcomes)
    windows = [o.window_ms for o in outcomes]
    if not judged:
        ctx.invalidate(f"{mode}: no read was judged (every write or read failed)")
        return {"writes": len(outcomes), "judged_reads": 0}
    ctx.record(f"stale_read_share_{mode}", stale / judged)
    # a censored window is a lower bound, so any order statistic of them is one too
    bound = "at_least" if any(o.censored for o in outcomes) else "exact"
    ctx.record(f"staleness_p99_ms_{mode}", nearest_rank(windows, 0.99), bound=bound)
    ctx.record(f"staleness_max_ms_{mode}", max(windows), bound=bound)
    return {
        "writes": len(outcomes),
        "judged_reads": judged,
        "stale_reads": stale,
        "writes_with_stale_reads": sum(1 for o in outcomes if o.stale),
        "writes_still_stale_at_end": sum(1 for o in outcomes if o.censored),
        "windows_ms": [round(w, 2) for w in windows],
    }


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    modes = [m for m in params["modes"] if m in MODES]
    if not modes:
        raise ScenarioError(f"modes must name some of {sorted(MODES)}, got {params['modes']!r}")
    needed = len(modes) * params["repetitions"] * params["writes"]
    ids = list(ctx.data.property_ids)
    if len(ids) < needed:
        raise ScenarioError(f"needs {needed} distinct properties, the database has {len(ids)}")
    chosen = random.Random(params["seed"]).sample(ids, needed)
    headers = ctx.admin_headers()
    per_mode: dict[str, list[dict[str, Any]]] = {}
    try:
        for mode in modes:
            ctx.restart_service(workers=MODES[mode])
            for rep in range(params["repetitions"]):
                batch, chosen = chosen[: params["writes"]], chosen[params["writes"] :]
                ctx.log(f"{mode}: repetition {rep + 1}/{params['repetitions']}, {len(batch)} writes")
                counts = asyncio.run(_trials(ctx.target_url, batch, params, headers, fresh=MODES[mode] > 1))
                summary = record(ctx, mode, counts.pop("outcomes"))
                per_mode.setdefault(mode, []).append({**summary, **counts})
    finally:
        ctx.restart_service()
    result.details.update(
        per_mode=per_mode,
        workers=MODES,
        judged="reads sent after the PATCH's 200 arrived; stale = carries the price from before the write",
        window="acknowledgement to the arrival of the write's last stale answer (0 without one)",
    )


SCENARIO = Scenario(
    name="consistency",
    description="stale reads after acknowledged writes, in one process and across two workers",
    run=run,
    defaults={
        "writes": 20,
        "repetitions": 3,
        "readers": 4,
        "lead_s": 0.05,
        "observe_s": 0.25,
        "modes": ["in_process", "cross_process"],
        "seed": 0,
    },
    area="caching",
    metrics=_metrics(),
)
