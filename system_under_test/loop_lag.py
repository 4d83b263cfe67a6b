"""Event-loop lag monitor: sleep 20-50 ms, measure how late the loop wakes up.

Anything that blocks the loop (a synchronous `psutil.cpu_percent(interval=1)`, a CPU burn) shows up as
overshoot. Exported as `athbench_event_loop_lag_last_seconds`, `athbench_event_loop_lag_max_seconds`
and the histogram `athbench_event_loop_lag_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from prometheus_client import Gauge, Histogram

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MIN_SLEEP_S = 0.020
MAX_SLEEP_S = 0.050

LAG_LAST = Gauge(
    "athbench_event_loop_lag_last_seconds", "Overshoot of the latest event-loop lag probe", multiprocess_mode="livemax"
)
LAG_MAX = Gauge(
    "athbench_event_loop_lag_max_seconds", "Largest event-loop lag seen since start", multiprocess_mode="livemax"
)
LAG = Histogram("athbench_event_loop_lag_seconds", "Event-loop lag probes", buckets=LAG_BUCKETS)


class LoopLagMonitor:
    """A background task probing the running loop; `last_s` and `max_s` hold the latest figures."""

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)  # jittered sleeps avoid aliasing with periodic work
        self._task: asyncio.Task[None] | None = None
        self.last_s = 0.0
        self.max_s = 0.0
        self.probes = 0

    def start(self) -> None:
        """Start probing on the running loop."""
        LAG_MAX.set(0.0)
        self._task = asyncio.create_task(self._probe_forever(), name="event-loop-lag-monitor")

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def record(self, lag_s: float) -> None:
        """Account one probe's overshoot."""
        self.probes += 1
        self.last_s = lag_s
        self.max_s = max(self.max_s, lag_s)
        LAG_LAST.set(lag_s)
        LAG_MAX.set(self.max_s)
        LAG.observe(lag_s)

    async def _probe_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            planned = self._random.uniform(MIN_SLEEP_S, MAX_SLEEP_S)
            started = loop.time()
            await asyncio.sleep(planned)
            self.record(max(loop.time() - started - planned, 0.0))
