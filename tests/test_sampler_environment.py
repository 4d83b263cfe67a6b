"""Environment capture and CPU pinning (recorded beside every result)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
import pytest

from harness.affinity import AffinityPlan, available_cpus, check_cpus, pin_process_tree
from harness.environment import capture, package_versions


def test_environment_names_machine_and_versions() -> None:
    env = capture(affinity=AffinityPlan.none().to_dict())
    assert env["cores"] == psutil.cpu_count() and env["cpu_model"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["locust"] and env["packages"]["hdrhistogram"]
    assert env["affinity"]["pinned"] is False
    assert json.loads(json.dumps(env)) == env
    assert package_versions(("surely-not-installed-athbench-x",)) == {"surely-not-installed-athbench-x": None}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_pinning_service_and_generator_apart() -> None:
    plan = AffinityPlan.split(generator_cpus=1)
    assert plan.service and plan.generator and not set(plan.service) & set(plan.generator)
    record = plan.to_dict()
    assert record["pinned"] and record["generator_cpus"] == [available_cpus()[-1]]
    script = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3)'])\n"
        "time.sleep(3)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        while not psutil.Process(parent.pid).children():
            pass
        pinned = pin_process_tree(parent.pid, plan.service)
        assert len(pinned) == 2
        for pid in pinned:
            assert psutil.Process(pid).cpu_affinity() == list(plan.service)
    finally:
        for child in psutil.Process(parent.pid).children():
            child.kill()
        parent.kill()
        parent.wait()


def test_bad_cpu_sets_are_named() -> None:
    with pytest.raises(ValueError, match="not within the available CPUs"):
        check_cpus([10_000])
    with pytest.raises(ValueError, match="cannot pin"):
        AffinityPlan.split(generator_cpus=len(available_cpus()))
