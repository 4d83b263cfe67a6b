"""A property's position in its neighbourhood: the optimized profile's sorted prices in the process give
the figure the baseline counts in PostgreSQL, on the real database, and load each neighbourhood once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from system_under_test.api.market import market_comparison
from system_under_test.api.market_prices import PriceDistributions
from tests.sut_support import running_app, seeded_database, settings_for

PROPERTIES = 400


@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, PROPERTIES) as (dsn, _):
        yield dsn


async def _placements(dsn: str) -> list[tuple[str, int, float]]:
    """(slug, property id, the share of the slug's sales at or below the property's price per m2, counted by
    hand in Python from all rows) for properties placed in their own and in another neighbourhood."""
    conn = await asyncpg.connect(dsn)
    try:
        hoods = {r["id"]: r["slug"] for r in await conn.fetch("SELECT id, slug FROM neighbourhoods")}
        sales: dict[int, list[float]] = {}
        for r in await conn.fetch("SELECT neighbourhood_id, price_per_m2 FROM market_transactions"):
            sales.setdefault(r["neighbourhood_id"], []).append(r["price_per_m2"])
        props = await conn.fetch("SELECT id, neighbourhood_id, price_eur, area_m2 FROM properties ORDER BY id LIMIT 40")
    finally:
        await conn.close()
    other = next(h for h in hoods if len(sales.get(h, [])) > 1)
    placed = []
    for p in props:
        per_m2 = p["price_eur"] / p["area_m2"]
        for hood in (p["neighbourhood_id"], other):
            prices = sales.get(hood, [])
            if prices:
                placed.append((hoods[hood], p["id"], round(100.0 * sum(x <= per_m2 for x in prices) / len(prices), 2)))
    return placed


async def test_both_profiles_place_a_property_where_the_sales_put_it(seeded_dsn: str, redis_url: str) -> None:
    placements = await _placements(seeded_dsn)
    assert len({slug for slug, _, _ in placements}) > 2 and len(placements) >= 40
    assert any(0 < pct < 100 for _, _, pct in placements)  # placements inside the range, not only its ends
    for profile in ("baseline", "optimized"):
        async with running_app(settings_for(seeded_dsn, redis_url, profile=profile)) as (app, client):
            for slug, property_id, expected in placements:
                response = await client.get(f"/api/v1/market/{slug}/comparison", params={"property_id": property_id})
                assert response.status_code == 200, response.text
                assert response.json()["property"]["percentile"] == expected, (profile, slug, property_id)
            distributions = app.state.market_prices
            if profile == "optimized":
                assert isinstance(distributions, PriceDistributions)  # one array per neighbourhood placed in
                assert len(distributions._prices) == len({slug for slug, _, _ in placements})
            else:
                assert distributions is None


async def test_quartiles_from_the_sorted_prices_are_percentile_conts(seeded_dsn: str, redis_url: str) -> None:
    """The comparison's loader itself (a response may come from the L3 view, which PostgreSQL computes)."""
    async with running_app(settings_for(seeded_dsn, redis_url, profile="optimized")) as (app, _):
        db = app.state.db
        slugs = [r["slug"] for r in await db.fetch("SELECT slug FROM neighbourhoods")]
        by_sql = [await market_comparison(db, slug) for slug in slugs]
        by_array = [await market_comparison(db, slug, app.state.market_prices) for slug in slugs]
    assert by_array == by_sql
    assert sum(c["transactions"] > 1 for c in by_sql) > 2
    assert all(c["p25_price_per_m2"] < c["p75_price_per_m2"] for c in by_sql if c["transactions"] > 1)


async def test_concurrent_first_callers_share_one_load_and_a_failed_load_leaves_nothing(
    seeded_dsn: str, redis_url: str
) -> None:
    async with running_app(settings_for(seeded_dsn, redis_url, profile="optimized")) as (app, _):
        distributions: PriceDistributions = app.state.market_prices
        db = app.state.db
        queries: list[str] = []
        real_fetch = db.fetch

        async def counting_fetch(query: str, *args: object) -> list[asyncpg.Record]:
            queries.append(query)
            await asyncio.sleep(0.05)  # all callers arrive while the first load is under way
            return await real_fetch(query, *args)

        db.fetch = counting_fetch  # type: ignore[method-assign]
        arrays = await asyncio.gather(*(distributions.prices(1) for _ in range(10)))
        assert len(queries) == 1 and all(a is arrays[0] for a in arrays)
        assert list(arrays[0]) == sorted(arrays[0]) and len(arrays[0]) > 0

        async def failing_fetch(query: str, *args: object) -> list[asyncpg.Record]:
            raise asyncpg.PostgresConnectionError("down")

        db.fetch = failing_fetch  # type: ignore[method-assign]
        with pytest.raises(asyncpg.PostgresConnectionError):
            await distributions.prices(2)
        assert 2 not in distributions._prices and not distributions._loading
        db.fetch = real_fetch  # type: ignore[method-assign]
        assert len(await distributions.prices(2)) > 0
