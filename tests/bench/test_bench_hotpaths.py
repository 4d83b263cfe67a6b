"""pytest-benchmark suite of the in-process hot paths (run with `--benchmark-only`; skipped by default).

Same hot paths and inputs as the asv benchmarks in `benchmarks/`, for saved baselines and
`--benchmark-compare-fail` (see docs/regression-tracking.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.bench_backup import compress, dump_like_bytes
from benchmarks.bench_cache import ENTRIES, VALUE
from benchmarks.bench_energy import BUILDING
from benchmarks.bench_scoring import rubric_results
from harness.results import read
from reports.grading import grade_run
from system_under_test.backup.dump import BackupOptions
from system_under_test.cache.l1 import L1Cache
from system_under_test.domain.assessment import BuildingSpec, assess
from system_under_test.resilience.breaker import BreakerConfig, CircuitBreaker


@pytest.fixture
def full_l1() -> L1Cache:
    cache = L1Cache(max_entries=ENTRIES, max_bytes=64 << 20, default_ttl_s=3600.0)
    for i in range(ENTRIES):
        cache.set(f"property:{i}:energy-assessment", VALUE, 120)
    return cache


def test_bench_l1_get_hit(benchmark, full_l1: L1Cache) -> None:
    assert benchmark(full_l1.get, "property:4321:energy-assessment") == VALUE


def test_bench_l1_set_evicting(benchmark, full_l1: L1Cache) -> None:
    keys = iter(range(ENTRIES, 10**9))
    benchmark(lambda: full_l1.set(f"property:{next(keys)}:energy-assessment", VALUE, 120))
    assert len(full_l1) == ENTRIES


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def _noop() -> None:
    return None


def test_bench_breaker_call(benchmark, loop: asyncio.AbstractEventLoop) -> None:
    breaker = CircuitBreaker("bench", BreakerConfig())

    async def hundred_calls() -> None:
        for _ in range(100):
            await breaker.call(_noop)

    benchmark(lambda: loop.run_until_complete(hundred_calls()))
    assert breaker.describe()["state"] == "closed"


def test_bench_energy_assessment(benchmark) -> None:
    result = benchmark(assess, BuildingSpec(**BUILDING))
    assert result.energy_class in ("A+", "A", "B+", "B", "C", "D", "E", "F", "G")


def test_bench_score_results_file(benchmark, tmp_path: Path) -> None:
    path = rubric_results(tmp_path / "results.json")
    assessments = benchmark(lambda: grade_run(read(path)))
    assert assessments["optimized"].graded


def test_bench_backup_compression(benchmark) -> None:
    data = dump_like_bytes(4_000_000)
    compressed = benchmark.pedantic(compress, args=(data, BackupOptions(profile="optimized")), rounds=5)
    assert 0 < compressed < len(data)
