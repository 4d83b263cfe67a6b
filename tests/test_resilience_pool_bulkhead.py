"""The PostgreSQL bulkhead matches the pool, queues a bounded number of callers, and the breaker measures
the dependency's calls, not the service's own queueing for a slot (ground truth: injected delays)."""

from __future__ import annotations

import asyncio

import pytest

from system_under_test.resilience import BulkheadFull, build_policies
from tests.sut_support import running_app, settings_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_bulkhead_admits_as_many_calls_as_the_pool_has_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHBENCH_PG_TIMEOUT_S", "1.0")  # slow call: >= 0.8 s; queue wait: <= 0.5 s
    policy = build_policies(postgres_pool_size=3).postgres
    running = peak = 0

    async def call() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.45)  # each call is fast for the breaker (< 0.8 s) ...
        running -= 1

    await asyncio.gather(*(policy.call(call) for _ in range(6)))  # ... the second three queue ~0.45 s first
    assert peak == 3
    assert policy.breaker is not None
    described = policy.breaker.describe()
    assert described["calls"] == 6 and described["slow_call_rate"] == 0.0


async def test_the_queue_in_front_of_the_pool_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHBENCH_PG_TIMEOUT_S", "4.0")
    policy = build_policies(postgres_pool_size=2).postgres
    release = asyncio.Event()

    async def hold() -> None:
        await release.wait()

    calls = [asyncio.create_task(policy.call(hold)) for _ in range(2 + 8)]  # 2 running, 8 queued (4x pool)
    await asyncio.sleep(0.05)
    with pytest.raises(BulkheadFull):
        await policy.call(hold)
    release.set()
    await asyncio.gather(*calls)


async def test_the_service_sizes_its_bulkhead_from_the_pool(postgres_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(postgres_dsn, redis_url, db_pool_size=7)) as (app, _):
        assert app.state.policies.postgres.bulkhead.max_concurrent == app.state.db.max_size() == 7
