"""The cache as the API exposes it: per-tier/per-endpoint analytics, Prometheus counters, the admin
flush, and the two profiles' caches (in-process app on the real PostgreSQL and Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from tests.sut_support import ADMIN_TOKEN, running_app, seeded_database, settings_for


@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, 500) as (dsn, _):
        yield dsn


def counter(tier: str, endpoint: str, result: str) -> float:
    labels = {"tier": tier, "endpoint": endpoint, "result": result}
    return REGISTRY.get_sample_value("athbench_cache_requests_total", labels) or 0.0


async def get_ok(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text


def keyspace(redis_url: str) -> tuple[int, int]:
    with redis.Redis.from_url(redis_url) as r:
        info = r.info("stats")
    return int(info["keyspace_hits"]), int(info["keyspace_misses"])


async def test_optimized_analytics_per_tier_agree_with_prometheus_and_flush_needs_the_token(
    seeded_dsn: str, redis_url: str
) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url, profile="optimized")) as (_, client):
        before = {r: counter("l1", "energy_assessment", r) for r in ("hit", "miss")}
        redis_before = keyspace(redis_url)
        for _ in range(3):
            await get_ok(client, "/api/v1/properties/3/energy-assessment")
        stats = (await client.get("/api/v1/analytics/cache")).json()
        assert stats["profile"] == "optimized"
        l1 = stats["tiers"]["l1"]["energy_assessment"]
        assert (l1["hits"], l1["misses"]) == (2, 1)
        assert stats["tiers"]["l2"]["energy_assessment"]["misses"] == 1
        assert stats["tiers"]["origin"]["energy_assessment"]["loads"] == 1
        assert counter("l1", "energy_assessment", "hit") - before["hit"] == 2
        assert counter("l1", "energy_assessment", "miss") - before["miss"] == 1
        redis_after = keyspace(redis_url)
        l2_all = stats["tiers"]["l2"]["_all"]
        # every L2 hit / miss is a Redis keyspace hit / miss; the lease check adds keyspace lookups of its own
        assert redis_after[0] - redis_before[0] >= l2_all["hits"]
        assert redis_after[1] - redis_before[1] >= l2_all["misses"]
        metrics = (await client.get("/metrics")).text
        assert 'athbench_cache_requests_total{endpoint="energy_assessment",result="hit",tier="l1"}' in metrics

        assert (await client.post("/admin/cache/flush")).status_code == 401
        flushed = await client.post("/admin/cache/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert flushed.status_code == 200 and flushed.json()["flushed"] is True
        await get_ok(client, "/api/v1/properties/3/energy-assessment")
        stats = (await client.get("/api/v1/analytics/cache")).json()
        assert stats["tiers"]["l1"]["energy_assessment"]["misses"] == 2
        assert stats["tiers"]["l2"]["energy_assessment"]["misses"] == 2  # Redis was flushed too


async def test_baseline_profile_uses_the_naive_dict_only(seeded_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url, profile="baseline")) as (_, client):
        for _ in range(2):
            await get_ok(client, "/api/v1/properties/4/energy-assessment")
            await get_ok(client, "/api/v1/portfolios/1/overview")
        stats = (await client.get("/api/v1/analytics/cache")).json()
        assert stats["profile"] == "baseline"
        assert set(stats["tiers"]) == {"l1", "origin"}  # no Redis, no materialized views
        assert stats["overall"]["_all"] == {"requests": 4, "loads": 2, "coalesced": 0, "hit_ratio": 0.5}


async def test_resilience_analytics_lists_every_dependency(seeded_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url)) as (_, client):
        body = (await client.get("/api/v1/analytics/resilience")).json()
        assert set(body) == {"postgres", "redis", "upstream"}
        assert all(v["breaker"]["state"] == "closed" for v in body.values())
        market = (await client.get("/api/v1/market/kolonaki/comparison")).json()
        assert market["degraded"] is True
        assert "not configured" in market["degraded_reason"]
