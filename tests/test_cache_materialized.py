"""L3 materialized views: created idempotently after seeding, refreshed concurrently, and giving the
same answers as the live queries they replace."""

from __future__ import annotations

from typing import Any

import pytest

from system_under_test.api.market import comparison_from_view, market_comparison
from system_under_test.api.portfolios import overview_from_view, portfolio_overview
from system_under_test.cache.materialized import MaterializedViews
from system_under_test.data.seed import ensure_seeded
from system_under_test.db import Database


def assert_same(l3: dict[str, Any] | None, live: dict[str, Any]) -> None:
    """Equal, except that rounded floats may differ by one unit in the last place (summation order)."""
    assert l3 is not None and l3.keys() == live.keys()
    for key, value in live.items():
        if isinstance(value, float):
            assert l3[key] == pytest.approx(value, abs=0.0100001), key
        else:
            assert l3[key] == value, key


async def test_views_match_live_queries_and_follow_refreshes(fresh_db_dsn: str) -> None:
    db = await Database.open(fresh_db_dsn, 4)
    views = MaterializedViews(db, interval_s=60)
    try:
        assert await views.refresh() is False  # no schema yet: nothing created, no error
        assert await views.market("kolonaki") is None
        await ensure_seeded(fresh_db_dsn, 1000)
        assert await views.refresh() is True
        assert await views.refresh() is True  # idempotent create + CONCURRENTLY refresh
        slugs = [r["slug"] for r in await db.fetch("SELECT slug FROM neighbourhoods ORDER BY id")]
        assert slugs
        for slug in slugs:
            assert_same(await comparison_from_view(views, slug), await market_comparison(db, slug))
        users = [r["id"] for r in await db.fetch("SELECT id FROM users ORDER BY id LIMIT 20")]
        for user_id in users:
            live = await portfolio_overview(db, user_id, concurrent=True)
            assert_same(await overview_from_view(views, user_id, concurrent=True), live)
        assert await views.market("no-such-place") is None

        # a write is visible in L3 after the next refresh, not before
        slug = slugs[0]
        before = (await views.market(slug))["transactions"]  # type: ignore[index]
        hood = await db.fetchval("SELECT id FROM neighbourhoods WHERE slug = $1", slug)
        await db.execute(
            "INSERT INTO market_transactions SELECT max(id) + 1, 1, $1, current_date, 1e5, 50, 2000 "
            "FROM market_transactions",
            hood,
        )
        assert (await views.market(slug))["transactions"] == before  # type: ignore[index]
        await views.refresh()
        assert (await views.market(slug))["transactions"] == before + 1  # type: ignore[index]
        assert views.describe()["refreshes"] == 3
    finally:
        await db.close()
