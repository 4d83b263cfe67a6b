"""CPU utilisation for the `system:cpu` health check, the two ways the profiles read it.

- baseline: `blocking_cpu_percent_on_event_loop()` calls `psutil.cpu_percent(interval=1)` directly
  in a coroutine, as the assessed system did: the whole event loop stops for one second.
- optimized: `CpuSampler`, a background task that reads the cumulative counters (`psutil.cpu_times()`
  for the machine, `psutil.Process().cpu_times()` for this process) every `sample_interval_s` and keeps a
  rolling average of the deltas. Reading the counters does not sleep or block.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import psutil


def blocking_cpu_percent_on_event_loop() -> float:
    """BASELINE BOTTLENECK: sample system CPU for one second, blocking the calling (event-loop) thread."""
    return psutil.cpu_percent(interval=1)


def _busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds of a `psutil.cpu_times()` reading (as `psutil.cpu_percent` counts them:
    guest time is already part of user time, iowait is idle)."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuSampler:
    """Non-blocking rolling CPU averages (system-wide and this process, percent)."""

    def __init__(self, sample_interval_s: float = 0.5, window: int = 20) -> None:
        self.sample_interval_s = sample_interval_s
        self._system: deque[float] = deque(maxlen=window)
        self._process: deque[float] = deque(maxlen=window)
        self._proc = psutil.Process()
        self._task: asyncio.Task[None] | None = None
        self._last_system = _busy_and_total(psutil.cpu_times())
        self._last_process = (sum(self._proc.cpu_times()[:2]), time.monotonic())

    def sample(self) -> None:
        """Take one sample: the counter deltas since the previous sample."""
        busy, total = _busy_and_total(psutil.cpu_times())
        last_busy, last_total = self._last_system
        if total > last_total:
            self._system.append(min(max(100.0 * (busy - last_busy) / (total - last_total), 0.0), 100.0))
        self._last_system = (busy, total)

        cpu, now = sum(self._proc.cpu_times()[:2]), time.monotonic()
        last_cpu, last_now = self._last_process
        if now > last_now:
            self._process.append(100.0 * (cpu - last_cpu) / (now - last_now))
        self._last_process = (cpu, now)

    @property
    def system_percent(self) -> float | None:
        """Mean system CPU over the window (None before the first sample)."""
        return sum(self._system) / len(self._system) if self._system else None

    @property
    def process_percent(self) -> float | None:
        """Mean CPU of this process over the window, percent of one core."""
        return sum(self._process) / len(self._process) if self._process else None

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._task = asyncio.create_task(self._sample_forever(), name="cpu-sampler")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sample_interval_s)
            self.sample()
