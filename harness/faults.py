"""Faults injected into athbench's own stack: PostgreSQL paused, Redis stopped, the upstream slow or failing.

Each is a context manager that injects the fault on entry and removes it on exit (also on error). A fault
that cannot be injected on this stack (an external server, no upstream) raises `FaultUnavailable` on
entry, before anything is changed, with the reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import psutil

if TYPE_CHECKING:
    from harness.stack import Stack


class FaultUnavailable(RuntimeError):
    """The fault cannot be injected on this stack; the message says why."""


@contextlib.contextmanager
def postgres_paused(stack: Stack) -> Iterator[None]:
    """SIGSTOP every process of the embedded PostgreSQL (connections hang, nothing is refused); SIGCONT on exit."""
    server = stack.embedded_postgres
    if server is None or server.child is None:
        raise FaultUnavailable("PostgreSQL is external (not athbench's)")
    root = server.child.psutil_process()
    paused: list[psutil.Process] = []
    try:
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.suspend()
                paused.append(proc)
        yield
    finally:
        for proc in reversed(paused):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.resume()


@contextlib.contextmanager
def redis_stopped(stack: Stack) -> Iterator[None]:
    """Stop the embedded Redis (connections are refused); start it again on exit."""
    server = stack.embedded_redis
    if server is None:
        raise FaultUnavailable("Redis is external (not athbench's)")
    server.stop()
    try:
        yield
    finally:
        server.start()


@contextlib.contextmanager
def upstream_fault(stack: Stack, spec: dict[str, Any]) -> Iterator[None]:
    """Make the market-data upstream slow or failing (`{"latency_ms": ...}` / `{"error_rate": ...}`)."""
    if not stack.upstream_url:
        raise FaultUnavailable("the stack runs no market-data upstream")
    url = f"{stack.upstream_url}/_faults"
    httpx.put(url, json=spec, timeout=5.0).raise_for_status()
    try:
        yield
    finally:
        httpx.delete(url, timeout=5.0).raise_for_status()
