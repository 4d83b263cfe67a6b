"""Faults against the real stack (optimized profile): Redis stopped, upstream failing or silent,
PostgreSQL paused with SIGSTOP, and cache invalidation between two service processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from harness.processes import free_port
from harness.stack import Stack, StackConfig

pytestmark = pytest.mark.slow

PG_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        tmp_path_factory.mktemp("resilience-stack"),
        profile="optimized",
        seed_properties=1000,
        service_env={
            "ATHBENCH_PG_TIMEOUT_S": str(PG_TIMEOUT_S),
            "ATHBENCH_BREAKER_WAIT_S": "1",
            "ATHBENCH_REDIS_TIMEOUT_S": "0.2",
        },
    )
    with Stack(config) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.service_url, timeout=10) as c:
        yield c


def breaker_state(client: httpx.Client, name: str) -> str:
    return client.get("/api/v1/analytics/resilience").json()[name]["breaker"]["state"]


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def assessment(client: httpx.Client, property_id: int) -> httpx.Response:
    return client.get(f"/api/v1/properties/{property_id}/energy-assessment")


def test_redis_down_reads_still_served_breaker_opens_and_closes_after_redis_returns(
    stack: Stack, client: httpx.Client
) -> None:
    redis = stack.embedded_redis
    assert redis is not None
    for pid in range(1, 6):
        assert assessment(client, pid).status_code == 200
    redis.stop()
    try:
        for pid in range(1, 6):  # from L1
            assert assessment(client, pid).status_code == 200
        for pid in range(100, 120):  # neither L1 nor L2: from PostgreSQL
            start = time.perf_counter()
            assert assessment(client, pid).status_code == 200
            assert time.perf_counter() - start < 1.0
        assert breaker_state(client, "redis") == "open"
        metrics = client.get("/metrics").text
        assert 'athbench_breaker_state{name="redis"} 1.0' in metrics
        l2 = client.get("/api/v1/analytics/cache").json()["tiers"]["l2"]["energy_assessment"]
        assert l2["errors"] >= 5
    finally:
        redis.start()
    next_id = iter(range(200, 400))
    assert eventually(
        lambda: assessment(client, next(next_id)).status_code == 200 and breaker_state(client, "redis") == "closed"
    )


def comparison(client: httpx.Client, slug: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/market/{slug}/comparison")
    assert response.status_code == 200, response.text
    return response.json()


def test_upstream_failing_or_silent_degrades_the_market_comparison_and_opens_the_breaker(
    stack: Stack, client: httpx.Client
) -> None:
    slugs = [r["slug"] for r in _neighbourhoods(stack)]
    assert len(slugs) >= 6
    faults = httpx.Client(base_url=stack.upstream_url, timeout=5)
    try:
        faults.put("/_faults", json={"blackhole": True}).raise_for_status()
        start = time.perf_counter()
        body = comparison(client, slugs[0])
        assert time.perf_counter() - start < 3.0  # the 1 s upstream limit, not a hang
        assert body["degraded"] is True and body["upstream"] is None
        assert body["degraded_reason"] == "upstream timed out after 1 s"

        faults.put("/_faults", json={"error_rate": 1.0}).raise_for_status()
        reasons = [comparison(client, slugs[1])["degraded_reason"] for _ in range(6)]
        assert "503" in reasons[0]
        assert reasons[-1] == "upstream circuit open"
        assert breaker_state(client, "upstream") == "open"
        body = comparison(client, slugs[1])
        assert body["degraded"] is True and body["median_price_per_m2"] is not None  # the DB part is served
    finally:
        faults.delete("/_faults").raise_for_status()
        faults.close()
    assert eventually(lambda: comparison(client, slugs[1])["degraded"] is False)  # a half-open probe passed
    fresh = iter(slugs[2:])  # upstream figures not cached yet: each request is a probe
    assert eventually(lambda: not comparison(client, next(fresh))["degraded"] and _closed(client))


def _closed(client: httpx.Client) -> bool:
    return breaker_state(client, "upstream") == "closed"


def _neighbourhoods(stack: Stack) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(stack.postgres_dsn)
        try:
            return [dict(r) for r in await conn.fetch("SELECT slug FROM neighbourhoods ORDER BY id")]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_invalidation_reaches_a_second_service_process(stack: Stack, client: httpx.Client) -> None:
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "system_under_test.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, **stack.service_environment()}
    second = stack.group.start("service-second", argv, env=env, cwd=Path(__file__).resolve().parents[1])
    try:
        other = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        assert eventually(lambda: _ready(other), timeout=30), second.log_tail()
        first_price = assessment(client, 7).json()["property"]["price_eur"]
        assert assessment(other, 7).json()["property"]["price_eur"] == first_price  # now in both L1s
        new_price = first_price + 1000.0
        patched = client.patch(
            "/api/v1/properties/7",
            json={"price_eur": new_price},
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        )
        assert patched.status_code == 200, patched.text
        start = time.monotonic()
        assert eventually(lambda: assessment(other, 7).json()["property"]["price_eur"] == new_price, timeout=5)
        assert time.monotonic() - start < 5  # far less than the 60 s L1 TTL backstop
        assert other.get("/api/v1/analytics/cache").json()["invalidation"]["received"] >= 1
        other.close()
    finally:
        stack.group.remove(second)


def _ready(c: httpx.Client) -> bool:
    try:
        return c.get("/health/ready").status_code == 200
    except httpx.HTTPError:
        return False


def test_postgres_paused_requests_time_out_within_the_limit_instead_of_hanging(
    stack: Stack, client: httpx.Client
) -> None:
    pg = stack.embedded_postgres
    assert pg is not None and pg.child is not None
    assert assessment(client, 21).status_code == 200  # cached before the pause
    # Backends call setsid(): pause the postmaster and every child, not just its process group.
    postmaster = psutil.Process(pg.child.pid)
    paused = [postmaster, *postmaster.children(recursive=True)]
    for process in paused:
        process.send_signal(signal.SIGSTOP)
    try:
        for pid in (501, 502, 503):
            start = time.perf_counter()
            response = assessment(client, pid)
            elapsed = time.perf_counter() - start
            assert response.status_code == 503, response.text
            assert elapsed < PG_TIMEOUT_S + 1.0, elapsed
        assert "postgres" in response.json()["detail"]
        start = time.perf_counter()
        assert assessment(client, 21).status_code == 200  # served from cache meanwhile
        assert time.perf_counter() - start < 0.5
    finally:
        for process in paused:
            process.send_signal(signal.SIGCONT)
    next_id = iter(range(600, 800))
    assert eventually(lambda: assessment(client, next(next_id)).status_code == 200, timeout=15)
