"""The optimized backup's CPU and disk priority, so that it uses what live traffic leaves over.

pg_dump and the compressor (`backup/compressor.py`) run under the kernel's `SCHED_IDLE` policy (preempted
as soon as a normal process wakes) at nice 19, in the idle I/O class. Two PostgreSQL backends do the rest
of a backup's work: the one serving pg_dump's `COPY`s (formatting every row) and the one computing the
manifest's checksums (47 % and 72 % of a core during a 1,000,000-property backup here). They get nice 19
and the idle I/O class but not `SCHED_IDLE`: a backend holds locks other backends wait for (a page's
content lock while it reads the page), and a process that only runs when nothing else wants the CPU
could hold one for as long as the machine stays busy.

`lower_backends` finds the backends in `pg_stat_activity` (pg_dump's by the application name the backup
gives it) and lowers them when the server runs on this machine and the service may (as root, or as the
server's own user; an external server, or one in another PID namespace, is left alone: a process is
lowered only when it is a `postgres` process started when PostgreSQL says that backend started).

Measured (README, "A backup's bytes no longer pass through the service"): while the backup's bytes
passed through a thread of the service, neither nice 19 nor `SCHED_IDLE` for all four changed live p95
during a backup measurably (2.4-2.6x of normal); taking the service out of the data path did (1.4x).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import time
from datetime import datetime
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:  # not imported at run time: the compressor process imports this module too
    import asyncpg

BACKGROUND_NICE = 19  # the lowest CPU priority
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30}  # syscall numbers
_IOPRIO_WHO_PROCESS, _IOPRIO_CLASS_IDLE, _IOPRIO_CLASS_SHIFT = 1, 3, 13
_START_TOLERANCE_S = 1.0  # between PostgreSQL's backend_start and the local process's start time


def lower_priority(pid: int = 0, idle_policy: bool = True) -> bool:
    """Give process `pid` (0: this one) nice 19, the idle I/O class and (`idle_policy`) the `SCHED_IDLE`
    policy; False when one of them could not be set (no permission, or the process is gone)."""
    try:
        if os.getpriority(os.PRIO_PROCESS, pid) < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, pid, BACKGROUND_NICE)
        if idle_policy and hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except (ProcessLookupError, PermissionError):
        return False
    number = _IOPRIO_SET.get(os.uname().machine)
    if number is None:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(number, _IOPRIO_WHO_PROCESS, pid, _IOPRIO_CLASS_IDLE << _IOPRIO_CLASS_SHIFT) == 0


def _local_backend(pid: int, started: datetime) -> bool:
    """True when `pid` on this machine is the PostgreSQL backend that started at `started`."""
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        return process.name().startswith("postgres") and abs(process.create_time() - started.timestamp()) < (
            _START_TOLERANCE_S
        )
    return False


async def lower_backends(conn: asyncpg.Connection, application_name: str, wait_s: float = 2.0) -> dict[int, bool]:
    """Lower `conn`'s own backend and the backend of the client named `application_name` once it has
    connected (waiting up to `wait_s` for it); return {pid: lowered} for those found on this machine."""
    query = "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid() OR application_name = $1"
    deadline = time.monotonic() + wait_s
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # a transaction otherwise keeps its first view
        rows = await conn.fetch(query, application_name)
        if len(rows) >= 2 or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.01)
    return {
        row["pid"]: lower_priority(row["pid"], idle_policy=False)  # not SCHED_IDLE: backends hold shared locks
        for row in rows
        if _local_backend(row["pid"], row["backend_start"])
    }
