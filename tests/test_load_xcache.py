"""`X-Cache: HIT | MISS` from the real service (both profiles) and the load generator's split of each
endpoint's histogram by it: a warm key lands in HIT, a cold one in MISS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import redis

from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.recorder import cache_status
from harness.load.runner import run_load
from harness.stack import Stack, StackConfig
from system_under_test.cache.status import status_of
from tests.sut_support import ADMIN_TOKEN, running_app, seeded_database, settings_for

ASSESSMENT = "/api/v1/properties/{id}/energy-assessment"
PROFILES = ("baseline", "optimized")


@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, 300) as (dsn, _):
        yield dsn


def test_the_status_follows_the_tier_that_answered() -> None:
    assert status_of([("l1", "hit")]) == "HIT"
    assert status_of([("l1", "miss"), ("l2", "hit")]) == "HIT"
    assert status_of([("l1", "miss"), ("l2", "error"), ("l3", "hit")]) == "HIT"  # materialized view
    assert status_of([("l1", "miss"), ("l2", "miss"), ("l3", "miss"), ("origin", "load")]) == "MISS"
    assert status_of([("l1", "miss"), ("l2", "miss"), ("origin", "coalesced")]) == "MISS"
    assert status_of([("l1", "hit"), ("l1", "miss"), ("origin", "load")]) == "MISS"  # any part loaded live
    assert status_of([]) is None


@pytest.mark.parametrize(
    ("value", "status"),
    [("HIT", "HIT"), ("miss", "MISS"), ("Hit from cloudfront", "HIT"), ("STALE", "STALE"), ("", None), ("PASS", None)],
)
def test_the_generator_reads_the_header_as_caches_write_it(value: str, status: str | None) -> None:
    assert cache_status(SimpleNamespace(headers={"X-Cache": value})) == status
    assert cache_status(SimpleNamespace(headers={})) is None


@pytest.mark.parametrize("profile", PROFILES)
async def test_cold_is_miss_warm_is_hit_and_uncached_responses_say_nothing(
    seeded_dsn: str, redis_url: str, profile: str
) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url, profile=profile)) as (app, client):
        path = ASSESSMENT.format(id=7)
        first, second = await client.get(path), await client.get(path)
        assert (first.status_code, second.status_code) == (200, 200)
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
        overview = [await client.get("/api/v1/portfolios/2/overview") for _ in range(2)]
        assert overview[1].headers["X-Cache"] == "HIT"
        assert "X-Cache" not in (await client.get("/health/live")).headers
        patched = await client.patch(
            "/api/v1/properties/7", json={"area_m2": 91.0}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert patched.status_code == 200, patched.text
        assert "X-Cache" not in patched.headers  # a write is not cacheable
        assert (await client.get(path)).headers["X-Cache"] == "MISS"  # the write invalidated the key
        if profile == "optimized":
            app.state.cache.l1.clear()  # gone from L1, still in Redis: an L2 hit is a HIT
            assert (await client.get(ASSESSMENT.format(id=8))).headers["X-Cache"] == "MISS"
            app.state.cache.l1.clear()
            assert (await client.get(ASSESSMENT.format(id=8))).headers["X-Cache"] == "HIT"


async def test_concurrent_cold_reads_that_share_one_load_are_all_misses(seeded_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url, profile="optimized")) as (app, client):
        responses = await asyncio.gather(*(client.get(ASSESSMENT.format(id=11)) for _ in range(8)))
        stats = app.state.cache.stats()["tiers"]["origin"]["energy_assessment"]
        assert stats["loads"] == 1 and stats["coalesced"] >= 1  # eight reads at once: they share the load
        statuses = [r.headers["X-Cache"] for r in responses]
        # a read that joined the one load waited for the live query: MISS, like the load itself
        assert statuses.count("MISS") == 1 + stats["coalesced"], (statuses, stats)
        assert statuses.count("HIT") == 8 - 1 - stats["coalesced"]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_generator_splits_hits_and_misses(tmp_path: Path, postgres_dsn: str, redis_url: str, profile: str) -> None:
    """One warm key (read before the phase) and a cold stream (each id once) against the real service."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()  # the session's Redis may hold these ids from another test's database
    with seeded_database(postgres_dsn, 200) as (dsn, _):
        config = StackConfig(tmp_path / "stack", profile=profile, postgres_dsn=dsn, redis_url=redis_url, upstream=False)
        with Stack(config) as stack:
            warm_path = ASSESSMENT.format(id=1)
            assert httpx.get(stack.service_url + warm_path, timeout=30).headers["X-Cache"] in ("MISS", "HIT")
            endpoints = [
                Endpoint(warm_path, name="warm"),
                Endpoint(ASSESSMENT, name="cold", params={"id": {"dist": "sequence", "min": 2, "max": 200}}),
            ]
            load = run_load(stack.service_url, OpenPlan.constant(20, 4.0, users=4), endpoints=endpoints, warmup_s=0)
    warm, cold = load.endpoints["warm"], load.endpoints["cold"]
    assert warm.count > 5 and cold.count > 5
    assert set(warm.by_cache) == {"HIT"} and warm.by_cache["HIT"].count == warm.count
    assert set(cold.by_cache) == {"MISS"} and cold.by_cache["MISS"].count == cold.count
    assert warm.cache_hit_ratio == 1.0 and cold.cache_hit_ratio == 0.0
    assert load.overall.cache_hit_ratio == pytest.approx(warm.count / (warm.count + cold.count))
    assert cold.by_cache["MISS"].latency_ms("p95") is not None
    assert load.templates["cold"]["sent"]["id"]["distinct_values"] == cold.count  # each cold id once
