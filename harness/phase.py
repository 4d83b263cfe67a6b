"""A load phase with the service's processes sampled alongside, and the sampled series cut to its window.

`harness.load.run_load` runs the load in a separate process and reports its measured window (after the
warm-up) in wall-clock seconds (`LoadResult.window_epoch`); the sampler (`harness.sampler`) runs in this
process with series timed from its `started_epoch`. The window is placed on the sampler's clock by the
difference. Means over it drop `TRIM` of the window at each end, so the ramp of the load's first and last
moments (and the sampler's 100 ms granularity) does not mix idle samples in.

The one validity policy (`judge`, applied by `ScenarioContext.load_phase`, never by a scenario): a phase
whose *generator* was saturated, short of CPU or late (`generator_fault`) makes the scenario run invalid,
with the reason; a phase where the *service* did not keep up (backlog: `LoadResult.lower_bound`, or
`validity.limited_by == "backlog"`) stays valid, is listed under `details["overloaded"]`, and its
percentiles are lower bounds (`Phase.bound == "at_least"`).

Around the phases: `service_sampler` (the service's process tree), `pinned` (optional CPU split between
service and generator), `LoadThread` (a load phase in the background while the caller measures something
else) and `schedstat_seconds` (a process's CPU time and CPU wait at nanosecond resolution).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from harness.affinity import AffinityPlan, available_cpus, pin_process_tree
from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.result import LoadResult
from harness.load.runner import run_load
from harness.results import Bound
from harness.sampler import Sampler

if TYPE_CHECKING:
    from harness.stack import Stack

TRIM = 0.1
OVERLOADED_NOTE = (
    "the service did not keep up with the offered rate (every user busy, sends late or never sent): a valid "
    "measurement of an overloaded service; its latency percentiles are lower bounds (reported as 'at least')"
)


def generator_fault(load: LoadResult) -> str | None:
    """Why a phase's figures cannot be trusted because of the *generator* (saturated, short of CPU, late),
    or None. A phase invalid only for backlog (every user busy: the target did not keep up with the offered
    rate) is a measurement of an overloaded service, not a generator fault (see `backlog`)."""
    if load.valid or load.validity.get("limited_by") == "backlog":
        return None
    return load.invalid_reason or "the load phase was invalid"


def backlog(load: LoadResult) -> str | None:
    """Why a phase's percentiles are lower bounds (the service did not keep up), or None."""
    flagged = bool(getattr(load, "lower_bound", False))
    if not flagged and (load.valid or load.validity.get("limited_by") != "backlog"):
        return None
    return load.invalid_reason or "backlogged: the service did not keep up with the offered rate"


def schedstat_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds run, seconds runnable but waiting for a CPU) of every thread of `pid`, from Linux's
    `/proc/PID/task/TID/schedstat` (nanoseconds). The wait shows CPU contention from other processes.
    Raises OSError where the file is missing (not Linux, or schedstats off)."""
    run_ns = wait_ns = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        run_ns += int(fields[0])
        wait_ns += int(fields[1])
    return run_ns / 1e9, wait_ns / 1e9


def service_sampler(stack: Stack, interval_s: float = 0.1) -> Sampler:
    """A sampler of the service's process tree (the root and its workers), group name `service`."""
    processes = stack.service_processes()
    if not processes:
        raise RuntimeError("the service is not running")
    return Sampler({"service": processes[0]}, interval_s=interval_s)


@contextlib.contextmanager
def pinned(service_pid: int, enabled: bool) -> Iterator[AffinityPlan]:
    """Pin the service tree to all CPUs but the last and give the last to the load generator.

    Yields the plan (pass `plan.generator` as `cpu_affinity` to the load phases); the service tree is
    unpinned on exit. With `enabled` False, or a single CPU, nothing is pinned and the plan says so.
    """
    if not enabled or len(available_cpus()) < 2:
        yield AffinityPlan.none()
        return
    plan = AffinityPlan.split(generator_cpus=1)
    pin_process_tree(service_pid, plan.service or ())
    try:
        yield plan
    finally:
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            pin_process_tree(service_pid, available_cpus())


@dataclass
class Window:
    """Where a load phase's measured window lies on the sampler's clock (seconds)."""

    start: float
    end: float


class SampledRun:
    """A sampler over the service processes, started once; load phases run inside it."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.windows: list[Window] = []

    def __enter__(self) -> SampledRun:
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sampler.stop()

    def now(self) -> float:
        """Seconds since the sampler started (its series' clock)."""
        return time.time() - (self.sampler.started_epoch or time.time())

    def load(
        self,
        target_url: str,
        plan: ClosedPlan | OpenPlan,
        endpoints: Sequence[Endpoint],
        work_dir: Path,
        **kwargs: Any,
    ) -> tuple[LoadResult, Window]:
        """Run one load phase; return its result and its measured window on the sampler's clock."""
        result = run_load(target_url, plan, endpoints=endpoints, work_dir=work_dir, **kwargs)
        origin = self.sampler.started_epoch or 0.0
        window = Window(result.window_epoch[0] - origin, result.window_epoch[1] - origin)
        self.windows.append(window)
        return result, window

    @property
    def cost(self) -> dict[str, float]:
        """The sampler's own cost so far (its CPU in % of a core)."""
        return self.sampler.result().cost

    def series(self, name: str) -> dict[str, Any]:
        """A sampled series so far ({"unit", "t", "v"}), empty if never sampled."""
        return self.sampler.result().series.get(name, {"unit": "", "t": [], "v": []})

    def mean(self, name: str, window: Window) -> float | None:
        """Mean of a sampled series over the (trimmed) window, None without samples there."""
        values = self.values(name, window)
        return float(np.mean(values)) if values else None

    def values(self, name: str, window: Window) -> list[float]:
        """Samples of a series inside the trimmed window."""
        margin = (window.end - window.start) * TRIM
        lo, hi = window.start + margin, window.end - margin
        series = self.series(name)
        # the sampler thread may be between appending t and v: zip stops at the shorter list
        return [v for t, v in zip(series["t"], series["v"], strict=False) if lo <= t <= hi and v is not None]


@dataclass
class Phase:
    """One load phase judged by the validity policy: `fault` (generator: the run is invalid), `overloaded`
    (backlog: percentiles are lower bounds), and, when sampled, its measured window on the sampler's clock."""

    label: str
    load: LoadResult
    fault: str | None = None
    overloaded: str | None = None
    window: Window | None = None
    sampled: SampledRun | None = None

    @property
    def bound(self) -> Bound:
        """How this phase's latency percentiles relate to the truth: exact, or at least (backlogged)."""
        return "at_least" if self.overloaded else "exact"

    def latency_ms(self, key: str = "p95") -> float | None:
        """The overall percentile (`p50`, `p95`, `p99`, ...): corrected when there was a schedule."""
        return self.load.overall.latency_ms(key)

    @property
    def good_throughput_rps(self) -> float:
        """Answered requests without errors per second of the measured window."""
        overall = self.load.overall
        return (overall.count - overall.error_count) / self.load.duration_s

    def mean(self, series: str) -> float | None:
        """Mean of a sampled series (e.g. ``cpu_percent.service``) over this phase's trimmed window."""
        if self.sampled is None or self.window is None:
            return None
        return self.sampled.mean(series, self.window)

    def values(self, series: str) -> list[float]:
        """Samples of a sampled series inside this phase's trimmed window (empty when not sampled)."""
        if self.sampled is None or self.window is None:
            return []
        return self.sampled.values(series, self.window)

    def point(self, **fields: Any) -> dict[str, Any]:
        """This phase as a point of `details["points"]`: `fields` (what was varied) plus the throughput of
        successful requests, p95 (corrected for an open model, uncorrected for a closed one), error rate,
        validity and the generator's CPU."""
        return {
            **fields,
            "throughput_rps": self.good_throughput_rps,
            "p95_ms": self.latency_ms("p95"),
            "error_rate": self.load.overall.error_rate,
            "valid": self.fault is None,
            "overloaded": self.overloaded is not None,
            "generator_cpu_percent": self.load.validity.get("generator_cpu_percent_mean"),
        }


def judge(label: str, load: LoadResult, window: Window | None = None, sampled: SampledRun | None = None) -> Phase:
    """Apply the validity policy to one phase."""
    fault = generator_fault(load)
    return Phase(label, load, fault, None if fault else backlog(load), window, sampled)


class LoadThread(threading.Thread):
    """`run_load` in a background thread; `join_result()` returns its LoadResult or raises its error."""

    def __init__(self, target_url: str, plan: ClosedPlan | OpenPlan, **kwargs: Any) -> None:
        super().__init__(name="athbench-load", daemon=True)
        self._args = (target_url, plan, kwargs)
        self.result: LoadResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        target_url, plan, kwargs = self._args
        try:
            self.result = run_load(target_url, plan, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread by join_result
            self.error = exc

    def join_result(self) -> LoadResult:
        self.join()
        if self.error is not None:
            raise RuntimeError(f"the load phase failed: {self.error}") from self.error
        assert self.result is not None
        return self.result
