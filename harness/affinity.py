"""Optional CPU pinning of the service and the load generator to different CPUs, and its record.

Pinning keeps the generator from competing with the service for the same core, so the service's CPU
figures and latencies are not inflated by the generator. It is optional; whatever was (or was not)
done is recorded with the results (`AffinityPlan.to_dict`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil


def available_cpus() -> list[int]:
    """CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


@dataclass(frozen=True)
class AffinityPlan:
    """Which CPUs the service (and its stack) and the load generator are pinned to; None = not pinned."""

    service: tuple[int, ...] | None
    generator: tuple[int, ...] | None

    @classmethod
    def split(cls, generator_cpus: int = 1) -> AffinityPlan:
        """Give the last ``generator_cpus`` CPUs to the generator and the rest to the service."""
        cpus = available_cpus()
        if len(cpus) <= generator_cpus:
            raise ValueError(
                f"cannot pin: {len(cpus)} CPU(s) available, need more than {generator_cpus} for the generator"
            )
        return cls(service=tuple(cpus[:-generator_cpus]), generator=tuple(cpus[-generator_cpus:]))

    @classmethod
    def none(cls) -> AffinityPlan:
        return cls(service=None, generator=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pinned": self.service is not None or self.generator is not None,
            "service_cpus": list(self.service) if self.service is not None else None,
            "generator_cpus": list(self.generator) if self.generator is not None else None,
            "available_cpus": available_cpus(),
        }


def pin_process_tree(pid: int, cpus: Sequence[int]) -> list[int]:
    """Pin a running process, every thread of it and all its descendants; returns the pinned PIDs."""
    cpus = sorted(set(cpus))
    check_cpus(cpus)
    root = psutil.Process(pid)
    pinned = []
    for process in [root, *root.children(recursive=True)]:
        try:
            for thread in process.threads():
                os.sched_setaffinity(thread.id, cpus)
            pinned.append(process.pid)
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    return pinned


def check_cpus(cpus: Sequence[int]) -> None:
    """Raise ValueError unless ``cpus`` is a non-empty subset of the CPUs this process may use."""
    allowed = set(available_cpus())
    if not cpus or not set(cpus) <= allowed:
        raise ValueError(f"CPU set {list(cpus)} is empty or not within the available CPUs {sorted(allowed)}")
