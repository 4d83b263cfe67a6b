"""A sampler of the processes under test, in a daemon thread, that measures its own cost.

Each tick (default 10 Hz) it reads ``/proc/PID/stat`` of every process of the sampled trees (the given
roots and their descendants, re-discovered every 2 s from /proc/PID/task/TID/children): CPU time, RSS
and threads. Once a second (``detail_interval_s``) it also reads open file descriptors and context
switches (``/proc/PID/status``), and every 5 s (``uss_interval_s``) USS (``/proc/PID/smaps_rollup``,
private pages; costly for processes with many mappings). Reading /proc directly, one file per process
per tick, keeps the cost low (psutil only names new processes). It derives CPU %
of one core per process, per group (a root and its descendants, e.g. ``postgres``) and in total.

CPU of processes that exit is counted. A process' CPU is its own time (utime + stime) plus that of the
children it has waited for (cutime + cstime, which the kernel adds when a child is reaped, with the
child's own reaped children). A child that lived and died between two tree refreshes, never sampled,
thus shows up in its parent's figure at the tick it was reaped. A child that was sampled leaves its last
sampled total as a credit with its parent, subtracted from the parent's next growth in reaped time, so
only its unsampled tail is added and nothing is counted twice. A process first seen after the sampler
started (born in the window) counts its CPU since birth at its first tick; one that existed before counts
from its first sample.
Optionally it scrapes Prometheus gauges (e.g. the service's event-loop lag) from a ``/metrics`` URL
once a second. Linux only.

Series names: ``{metric}.{group}`` and ``{metric}.total`` for cpu_percent, rss_mb, uss_mb, threads,
open_files and ctx_switches_per_s; ``cpu_percent.{group}/{name}:{pid}`` and ``rss_mb.{group}/{name}:{pid}``
per process (`SamplerResult.processes` maps these labels to PIDs).

Its cost is its own thread's CPU time divided by the wall time it ran (``cost["cpu_percent_of_core"]``),
recorded with the result. Series use the results' shape ``{"unit": ..., "t": [...], "v": [...]}`` with
``t`` in seconds from the sampler's start (``started_epoch`` in wall-clock time).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

MB = 1024.0 * 1024.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
GROUP_METRICS = {
    "cpu_percent": "%",
    "rss_mb": "MB",
    "uss_mb": "MB",
    "threads": "count",
    "open_files": "count",
    "ctx_switches_per_s": "1/s",
}


class _Gone(Exception):
    """The process exited (or is a zombie)."""


@dataclass
class _Tracked:
    pid: int
    group: str
    label: str
    parent: int | None = None
    cpu_s: float | None = None  # own CPU (utime + stime) at the last sample
    reaped_s: float = 0.0  # CPU of reaped children (cutime + cstime) at the last sample
    credit_s: float = 0.0  # CPU of exited children already counted, not yet seen in reaped_s
    at: float | None = None
    ctx: int | None = None
    ctx_at: float | None = None
    details: dict[str, float] = field(default_factory=dict)


@dataclass
class SamplerResult:
    """The sampled series and the sampler's own cost."""

    series: dict[str, dict[str, Any]]
    cost: dict[str, float]
    processes: dict[str, int] = field(default_factory=dict)
    started_epoch: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "cost": self.cost,
            "processes": self.processes,
            "started_epoch": self.started_epoch,
        }


class Sampler:
    """Samples process trees until stopped; use as a context manager or call start() / stop()."""

    def __init__(
        self,
        roots: Mapping[str, int | psutil.Process],
        interval_s: float = 0.1,
        detail_interval_s: float = 1.0,
        uss_interval_s: float = 5.0,
        tree_refresh_s: float = 2.0,
        metrics_url: str | None = None,
        gauges: Mapping[str, str] | None = None,
    ) -> None:
        if not roots:
            raise ValueError("Sampler needs at least one process to sample")
        if "total" in roots or any("/" in group for group in roots):
            raise ValueError(f"group names may not be 'total' nor contain '/': {sorted(roots)}")
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self.detail_interval_s = detail_interval_s
        self.uss_interval_s = uss_interval_s
        self.tree_refresh_s = tree_refresh_s
        self.metrics_url = metrics_url
        self.gauges = dict(gauges or {})
        self._roots = {g: p if isinstance(p, psutil.Process) else psutil.Process(p) for g, p in roots.items()}
        self._tracked: dict[int, _Tracked] = {}
        self._series: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="athbench-sampler", daemon=True)
        self._cost: dict[str, float] = {}
        self._error: BaseException | None = None
        self._start_ticks = 0.0  # CLOCK_BOOTTIME at start, in clock ticks (as /proc/PID/stat starttime)
        self._last_tick: float | None = None
        self.started_epoch: float | None = None  # time.time() at t = 0 of the series

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> SamplerResult:
        """Stop sampling and return everything recorded."""
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"sampler failed: {self._error!r}") from self._error
        return self.result()

    def result(self) -> SamplerResult:
        return SamplerResult(
            series=self._series,
            cost=dict(self._cost),
            started_epoch=self.started_epoch,
            processes={t.label: pid for pid, t in self._tracked.items()},
        )

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by stop()
            self._error = exc

    def _loop(self) -> None:
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        self.started_epoch = time.time()
        self._start_ticks = time.clock_gettime(time.CLOCK_BOOTTIME) * _TICKS
        next_tick = start_wall
        last_tree = last_details = last_uss = last_scrape = -1e9
        ticks = 0
        while not self._stop.is_set():
            now = time.perf_counter()
            t = round(now - start_wall, 4)
            if now - last_tree >= self.tree_refresh_s:
                self._refresh_tree()
                last_tree = now
            details = now - last_details >= self.detail_interval_s
            if details:
                last_details = now
            uss = now - last_uss >= self.uss_interval_s
            if uss:
                last_uss = now
            self._sample(t, now, details, uss)
            self._last_tick = now
            if self.metrics_url and now - last_scrape >= 1.0:
                self._scrape(t)
                last_scrape = now
            ticks += 1
            wall = time.perf_counter() - start_wall
            self._cost = {
                "cpu_percent_of_core": 100.0 * (time.thread_time() - start_cpu) / wall if wall > 0 else 0.0,
                "samples": float(ticks),
                "interval_s": self.interval_s,
                "achieved_interval_s": wall / ticks,
                "wall_s": wall,
            }
            next_tick += self.interval_s
            self._stop.wait(max(0.0, next_tick - time.perf_counter()))

    def _refresh_tree(self) -> None:
        alive: set[int] = set()
        for group, root in self._roots.items():
            pending: list[tuple[int, int | None]] = [(root.pid, None)]
            while pending:
                pid, parent = pending.pop()
                try:
                    pending.extend((child, pid) for child in _children(pid))
                except (FileNotFoundError, ProcessLookupError):
                    continue
                alive.add(pid)
                if pid not in self._tracked:
                    try:
                        name = (root if pid == root.pid else psutil.Process(pid)).name()
                    except psutil.Error:
                        continue
                    tracked = _Tracked(pid, group, f"{group}/{name}:{pid}", parent=parent)
                    if self._last_tick is not None and self._born_while_sampling(pid):
                        tracked.cpu_s, tracked.at = 0.0, self._last_tick  # its CPU so far is in the window
                    self._tracked[pid] = tracked
        self._forget_all([pid for pid in self._tracked if pid not in alive])

    def _born_while_sampling(self, pid: int) -> bool:
        try:
            return _read_start_ticks(pid) >= int(self._start_ticks)
        except (OSError, ValueError, IndexError):
            return False

    def _forget_all(self, pids: list[int]) -> None:
        """Forget exited processes, descendants before their ancestors so that credits pass up the tree."""

        def depth(pid: int) -> int:
            n, parent = 0, self._tracked[pid].parent
            while parent is not None and parent in self._tracked and n < 1000:
                n, parent = n + 1, self._tracked[parent].parent
            return n

        for pid in sorted(pids, key=depth, reverse=True):
            self._forget(pid)

    def _forget(self, pid: int) -> None:
        """Stop tracking an exited process; what was counted of it becomes a credit with its parent."""
        tracked = self._tracked.pop(pid)
        parent = self._tracked.get(tracked.parent) if tracked.parent is not None else None
        if parent is not None and tracked.cpu_s is not None:
            # with its own exited children's credit: waited for after its last sample, they are in its final
            # reaped time, which the parent's reaped time receives
            parent.credit_s += tracked.cpu_s + tracked.reaped_s + tracked.credit_s

    def _sample(self, t: float, now: float, details: bool, uss: bool) -> None:
        totals: dict[str, dict[str, float]] = {}
        stats: dict[int, tuple[float, float, int, float]] = {}
        exited: list[int] = []
        for pid in self._tracked:  # exits first, so their credits reach the parents before these are used
            try:
                stats[pid] = _read_stat(pid)
            except (_Gone, FileNotFoundError, ProcessLookupError):
                exited.append(pid)
            except PermissionError:
                continue
        self._forget_all(exited)
        for pid, (cpu_s, reaped_s, threads, rss_mb) in stats.items():
            tracked = self._tracked.get(pid)
            if tracked is None:
                continue
            try:
                if details:
                    ctx, fds = _read_details(pid)
                if uss:
                    tracked.details["uss_mb"] = _read_uss_mb(pid)
            except (FileNotFoundError, ProcessLookupError):
                self._forget(pid)
                continue
            except PermissionError:
                continue
            values: dict[str, float] = {"rss_mb": rss_mb, "threads": float(threads)}
            if tracked.at is not None and tracked.cpu_s is not None:
                grown = max(reaped_s - tracked.reaped_s, 0.0)
                credited = min(grown, tracked.credit_s)
                tracked.credit_s -= credited
                used = cpu_s - tracked.cpu_s + grown - credited
                values["cpu_percent"] = max(0.0, 100.0 * used / max(now - tracked.at, 1e-6))
                self._append(f"cpu_percent.{tracked.label}", "%", t, values["cpu_percent"])
            tracked.cpu_s, tracked.reaped_s, tracked.at = cpu_s, reaped_s, now
            self._append(f"rss_mb.{tracked.label}", "MB", t, rss_mb)
            if details:
                if tracked.ctx is not None and tracked.ctx_at is not None:
                    tracked.details["ctx_switches_per_s"] = max(
                        0.0, (ctx - tracked.ctx) / max(now - tracked.ctx_at, 1e-6)
                    )
                tracked.ctx, tracked.ctx_at = ctx, now
                tracked.details["open_files"] = float(fds)
            if details or uss:
                values.update(tracked.details)
            for scope in (tracked.group, "total"):
                bucket = totals.setdefault(scope, {})
                for metric, value in values.items():
                    bucket[metric] = bucket.get(metric, 0.0) + value
        for scope, bucket in totals.items():
            for metric, value in bucket.items():
                self._append(f"{metric}.{scope}", GROUP_METRICS[metric], t, value)

    def _scrape(self, t: float) -> None:
        try:
            text = httpx.get(self.metrics_url or "", timeout=0.5).text
        except httpx.HTTPError:
            return
        wanted = {metric: name for name, metric in self.gauges.items()}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted:
                    self._append(wanted[sample.name], "", t, float(sample.value))

    def _append(self, name: str, unit: str, t: float, value: float) -> None:
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = {"unit": unit, "t": [], "v": []}
        series["t"].append(t)
        series["v"].append(round(value, 4))


def roots_named(name: str) -> dict[str, psutil.Process]:
    """Sampler roots for a service athbench did not start: processes whose name (or command line)
    contains ``name``, keeping only the top-most of each tree (its children are sampled with it)."""
    me = os.getpid()
    matches: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.pid == me:
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        if name in (process.info["name"] or "") or name in cmdline:
            matches[process.pid] = process
    roots = {}
    for pid, process in matches.items():
        try:
            if not any(parent.pid in matches for parent in process.parents()):
                roots[f"{name}-{pid}"] = process
        except psutil.NoSuchProcess:
            continue
    if not roots:
        raise ValueError(f"no running process matches {name!r}")
    return roots


def _children(pid: int) -> list[int]:
    """Child PIDs of a process, from /proc/PID/task/TID/children (all its threads)."""
    children: list[int] = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                children.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            continue
    return children


def _stat_fields(pid: int) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name: index 0 is field 3 (state)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2 :].split()


def _read_stat(pid: int) -> tuple[float, float, int, float]:
    """Own CPU seconds (user + system), reaped children's CPU seconds, threads and RSS (MB)."""
    fields = _stat_fields(pid)
    if fields[0] in (b"Z", b"X"):
        raise _Gone(pid)
    # 1-based: utime(14) stime(15) cutime(16) cstime(17) ... num_threads(20) ... rss(24)
    cpu_s = (int(fields[11]) + int(fields[12])) / _TICKS
    reaped_s = (int(fields[13]) + int(fields[14])) / _TICKS
    return cpu_s, reaped_s, int(fields[17]), int(fields[21]) * _PAGE / MB


def _read_start_ticks(pid: int) -> int:
    """When the process started, in clock ticks since boot (field 22, starttime)."""
    return int(_stat_fields(pid)[19])


def _read_details(pid: int) -> tuple[int, int]:
    """Context switches (voluntary + involuntary) and open file descriptors."""
    ctx = 0
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith((b"voluntary_ctxt_switches", b"nonvoluntary_ctxt_switches")):
                ctx += int(line.split()[1])
    return ctx, len(os.listdir(f"/proc/{pid}/fd"))


def _read_uss_mb(pid: int) -> float:
    """USS: the process' private pages, from /proc/PID/smaps_rollup (costly for large mappings)."""
    uss_kb = 0
    with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
        for line in f:
            if line.startswith((b"Private_Clean:", b"Private_Dirty:", b"Private_Hugetlb:")):
                uss_kb += int(line.split()[1])
    return uss_kb / 1024.0
