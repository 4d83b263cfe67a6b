"""What the machine did during a failed test: the shared machine's own share, named in the report.

A timing test that fails because another process (or the hypervisor, as steal time) took the CPU says
so in its failure report, beside the assertion, instead of leaving a guess."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psutil

TOP = 6


@dataclass(frozen=True)
class Snapshot:
    wall: float
    cpu: Any  # psutil.cpu_times(): a named tuple of seconds by state
    processes: dict[int, tuple[str, float]]  # pid -> (name and arguments, CPU seconds so far)


def snapshot() -> Snapshot:
    processes = {}
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is None:
            continue
        label = " ".join(proc.info["cmdline"] or [proc.info["name"] or "?"])
        processes[proc.pid] = (label[:100], times.user + times.system)
    return Snapshot(time.monotonic(), psutil.cpu_times(), processes)


def describe(before: Snapshot, after: Snapshot) -> str:
    """The machine's CPU between two snapshots: busy, steal and iowait shares, and the processes that used
    the most CPU (those started during the interval count from zero)."""
    wall = after.wall - before.wall
    spent = {  # guest time is already in user and nice (Linux)
        field: getattr(after.cpu, field) - getattr(before.cpu, field)
        for field in after.cpu._fields
        if field not in ("guest", "guest_nice")
    }
    total = sum(spent.values()) or 1e-9
    idle = spent.get("idle", 0.0) + spent.get("iowait", 0.0)
    lines = [
        f"{wall:.1f} s on {psutil.cpu_count()} CPUs: busy {100 * (total - idle) / total:.0f} %, "
        f"steal {100 * spent.get('steal', 0.0) / total:.0f} %, iowait {100 * spent.get('iowait', 0.0) / total:.0f} %, "
        f"load average {' '.join(f'{v:.1f}' for v in psutil.getloadavg())}"
    ]
    used = []
    for pid, (label, cpu_s) in after.processes.items():
        start = before.processes.get(pid, (label, 0.0))[1]
        used.append((cpu_s - start, pid, label))
    for cpu_s, pid, label in sorted(used, reverse=True)[:TOP]:
        lines.append(f"  {cpu_s:6.2f} CPU s  pid {pid:<7} {label}")
    return "\n".join(lines)
