"""Per-request probes for scenarios that must line requests up with events they cause themselves.

`harness.load.run_load` measures a load phase as a whole (histograms, per-second buckets) in a separate
process. Some scenarios need every single request with its own timestamp on this process's clock, to
know which requests were scheduled while a fault, or a backup, was in progress, or which key a request
read. Two small asyncio drivers give that:

- `replay`: a fixed list of paths sent in list order by `concurrency` workers (a closed model): worker
  k takes the next path only when its previous request finished, so the server sees the list's order
  up to `concurrency` requests in flight.
- `open_stream`: a constant arrival rate for a duration (an open model); each request's latency is
  timed from its scheduled start (coordinated-omission corrected), and how late it was sent is kept,
  so a generator that fell behind is visible (`send_lag_ms`). Every scheduled request counts: one due
  before the stream stopped but never sent (the generator was behind) comes back as a probe with error
  "unsent", no status, and the time it had waited when the stream stopped as its latency (a lower bound).

Both run in the calling thread's event loop (`asyncio.run` them, or run them in a thread while the
scenario injects faults) at the modest rates a scenario uses (at most a few hundred requests/s). The client
is aiohttp's: httpx's asynchronous pool cost this process 5-10 ms of CPU per request once a few dozen
requests were in flight (a 300 ms delay at 100 req/s), so on two cores the generator fell seconds behind
its schedule and measured itself; aiohttp keeps 500 req/s with a 300 ms delay at about 1 ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from yarl import URL

if TYPE_CHECKING:
    import aiohttp


@dataclass(slots=True)
class Probe:
    """One request: when it was due and sent (time.monotonic seconds), how long it took, what came back."""

    index: int
    path: str
    scheduled: float
    sent: float
    latency_s: float
    status: int | None
    error: str | None = None

    @property
    def server_error(self) -> bool:
        """A 5xx answer, or no answer at all (connection error, timeout)."""
        return self.status is None or self.status >= 500


async def _send(client: aiohttp.ClientSession, base: str, index: int, path: str, scheduled: float) -> Probe:
    import aiohttp  # imported where used: half a second at every `athbench` start otherwise

    sent = time.monotonic()
    try:
        async with client.get(URL(base + path, encoded=True)) as response:
            await response.read()
            status, error = response.status, None
    except TimeoutError:
        status, error = None, "timeout"
    except aiohttp.ClientError as exc:
        status, error = None, type(exc).__name__
    return Probe(index, path, scheduled, sent, time.monotonic() - scheduled, status, error)


def _client(timeout_s: float, connections: int) -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        raise_for_status=False,
    )


async def replay(base_url: str, paths: Sequence[str], *, concurrency: int = 4, timeout_s: float = 10.0) -> list[Probe]:
    """Send every path once, in order, with at most `concurrency` in flight; results in path order."""
    if concurrency < 1:
        raise ValueError(f"replay concurrency must be >= 1, got {concurrency}")
    results: list[Probe | None] = [None] * len(paths)
    position = iter(range(len(paths)))
    base = base_url.rstrip("/")
    async with _client(timeout_s, concurrency) as client:

        async def worker() -> None:
            for i in position:
                results[i] = await _send(client, base, i, paths[i], time.monotonic())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r for r in results if r is not None]


async def open_stream(
    base_url: str,
    path_for: Callable[[int], str],
    *,
    rate_rps: float,
    duration_s: float,
    timeout_s: float = 10.0,
    max_in_flight: int = 256,
    stop: asyncio.Event | None = None,
) -> list[Probe]:
    """Requests at `rate_rps` (evenly spaced) for `duration_s` or until `stop` is set; path i is path_for(i).

    Requests still in flight at the end are awaited (up to `timeout_s`). When `max_in_flight` requests
    are outstanding, sends wait; their latency still counts from the scheduled time. Requests due before
    the stream stopped that the generator had not sent yet are returned as "unsent" probes (status None,
    latency = the time they had waited when it stopped, a lower bound), never dropped.
    """
    if rate_rps <= 0 or duration_s <= 0:
        raise ValueError(f"open_stream needs a positive rate and duration, got {rate_rps} req/s, {duration_s} s")
    gap = 1.0 / rate_rps
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[Probe]] = []
    base = base_url.rstrip("/")
    async with _client(timeout_s, max_in_flight) as client:

        async def one(i: int, due: float) -> Probe:
            async with slots:
                return await _send(client, base, i, path_for(i), due)

        start = time.monotonic()
        i = 0
        while (due := start + i * gap) < start + duration_s and not (stop is not None and stop.is_set()):
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
            i += 1
        ended = time.monotonic()
        unsent: list[Probe] = []
        while (due := start + i * gap) < min(ended, start + duration_s):
            unsent.append(Probe(i, path_for(i), due, ended, ended - due, None, "unsent"))
            i += 1
        return [*await asyncio.gather(*tasks), *unsent]


def send_lag_ms(probes: Sequence[Probe], q: float) -> float:
    """How late requests were sent against their schedule (the generator's own lateness), q-th percentile, ms."""
    if not probes:
        return 0.0
    return float(np.percentile([(p.sent - p.scheduled) * 1000.0 for p in probes], q))


def latency_percentile_ms(probes: Sequence[Probe], q: float) -> float | None:
    """The q-th percentile latency (ms) of the probes that got an answer, or None if none did."""
    values = [p.latency_s * 1000.0 for p in probes if p.status is not None]
    return float(np.percentile(values, q)) if values else None
