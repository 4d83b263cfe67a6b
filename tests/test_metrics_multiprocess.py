"""Prometheus metrics with 2 uvicorn workers (multiprocess mode): whichever worker answers the scrape,
/metrics counts every request once, gauges are combined per their mode, dead workers' live gauges go."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from harness.stack import Stack, StackConfig

REQUESTS = 120
ROUTE = "/health/live"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(tmp_path_factory.mktemp("multiproc"), seed_properties=200, workers=2, upstream=False)
    with Stack(config) as running:
        yield running


def sample(text: str, name: str, labels: str = "", default: float | None = None) -> float:
    """The value of one sample in an exposition text (labels as written between the braces, sorted)."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)\n"
    found = re.findall(pattern, text)
    if not found and default is not None:
        return default
    assert len(found) == 1, f"{name}{{{labels}}}: {found}"
    return float(found[0])


def live_count(text: str) -> float:
    """Requests counted for ROUTE (0 before the first one)."""
    labels = f'method="GET",route="{ROUTE}",status_class="2xx"'
    return sample(text, "athbench_http_request_duration_seconds_count", labels, default=0.0)


def multiproc_dir(stack: Stack) -> Path:
    assert stack.service is not None
    return Path(stack.service.psutil_process().environ()["PROMETHEUS_MULTIPROC_DIR"])


def worker_pids(stack: Stack) -> set[int]:
    """uvicorn's worker processes (spawned by multiprocessing; not its resource tracker)."""
    return {p.pid for p in stack.service_processes()[1:] if "spawn_main" in " ".join(p.cmdline())}


def per_worker_counts(directory: Path) -> dict[int, float]:
    """Requests to ROUTE as each worker wrote them to its own file (the sum of its bucket increments)."""
    counts: dict[int, float] = {}
    for path in directory.glob("histogram_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample_name, labels, _ = json.loads(key)
            if sample_name.endswith("_bucket") and labels.get("route") == ROUTE:
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def test_the_stack_gives_each_start_a_fresh_multiprocess_directory(stack: Stack) -> None:
    directory = multiproc_dir(stack)
    assert directory.parent == stack.run_dir / "prometheus-multiproc"
    assert len(worker_pids(stack)) == 2


def test_request_counter_sums_every_worker(stack: Stack) -> None:
    before = live_count(httpx.get(f"{stack.service_url}/metrics").text)
    # no keep-alive: every request is a new connection, so the kernel spreads them over both workers
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as client:
        for _ in range(REQUESTS):
            assert client.get(f"{stack.service_url}{ROUTE}").status_code == 200
        scrapes = [client.get(f"{stack.service_url}/metrics").text for _ in range(6)]

    assert {live_count(text) - before for text in scrapes} == {REQUESTS}
    counts = per_worker_counts(multiproc_dir(stack))
    assert set(counts) == worker_pids(stack) and all(c > 0 for c in counts.values()), counts  # both workers answered
    assert sum(counts.values()) == before + REQUESTS


def test_gauges_are_combined_across_workers(stack: Stack) -> None:
    text = httpx.get(f"{stack.service_url}/metrics").text
    assert sample(text, "athbench_db_pool_max") == 2 * 10  # livesum of two pools of 10 (no callback gauge)
    assert sample(text, "athbench_http_requests_in_flight") == 1  # this scrape, once, whichever worker
    assert sample(text, "athbench_service_info", 'profile="optimized"') == 1  # max, not 2
    assert "process_resident_memory_bytes" not in text  # single-process collectors are not aggregated


def test_stopped_workers_are_marked_dead(stack: Stack) -> None:
    old_dir = multiproc_dir(stack)
    old_workers = worker_pids(stack)
    assert {int(p.stem.rsplit("_", 1)[1]) for p in old_dir.glob("gauge_livesum_*.db")} == old_workers

    stack.start_service(workers=2)  # a restart: old workers shut down, new ones get a new directory

    assert multiproc_dir(stack) != old_dir
    assert list(old_dir.glob("gauge_live*_*.db")) == []  # mark_process_dead removed the live gauges
    assert list(old_dir.glob("histogram_*.db"))  # counters and histograms stay on disk
    assert live_count(httpx.get(f"{stack.service_url}/metrics").text) == 0  # the new service starts from zero
    assert os.path.isdir(old_dir)
