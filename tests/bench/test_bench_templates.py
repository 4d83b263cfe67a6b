"""pytest-benchmark: filling a request template costs at most 5 us per request (run with --benchmark-only).

The budget is checked on the fastest of 30 rounds of 1,000 fills: other processes on a shared machine only
ever add time, so the fastest round is the closest to the fill's own cost; the median is reported beside it
(pytest-benchmark's table) and in the failure message."""

from __future__ import annotations

import pytest

from benchmarks.bench_templates import full_template, path_template

BUDGET_S = 5e-6
FILLS = 1_000


@pytest.mark.parametrize("make", [path_template, full_template], ids=["path", "full"])
def test_template_fill_within_budget(benchmark, make) -> None:  # type: ignore[no-untyped-def]
    stream = make().stream(seed=1)

    def fill_many() -> None:
        for _ in range(FILLS):
            stream.next()

    benchmark.pedantic(fill_many, rounds=30, warmup_rounds=2)
    fastest, median = benchmark.stats.stats.min / FILLS, benchmark.stats.stats.median / FILLS
    assert fastest <= BUDGET_S, (
        f"{fastest * 1e6:.2f} us per request at best, {median * 1e6:.2f} us median (budget {BUDGET_S * 1e6:g} us)"
    )
