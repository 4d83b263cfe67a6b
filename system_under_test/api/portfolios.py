"""`GET /api/v1/portfolios/{user_id}/overview`: a user's holdings, class mix, savings and value.

Its four queries are independent: the baseline profile runs them one after another on one request's
turn, the optimized profile runs them concurrently (`asyncio.gather`, separate pool connections).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request

from system_under_test.api.models import MAX_ID, PortfolioOverviewOut
from system_under_test.cache.materialized import MaterializedViews
from system_under_test.db import Database
from system_under_test.domain.energy import ENERGY_CLASSES

router = APIRouter(prefix="/api/v1/portfolios", tags=["portfolios"])

HOLDINGS = (
    "FROM portfolios pf JOIN portfolio_properties pp ON pp.portfolio_id = pf.id "
    "JOIN properties p ON p.id = pp.property_id WHERE pf.user_id = $1"
)
USER_SQL = "SELECT name FROM users WHERE id = $1"
PORTFOLIO_COUNT_SQL = "SELECT count(*) FROM portfolios WHERE user_id = $1"
TOTALS_SQL = (
    "SELECT count(*) AS properties, coalesce(sum(p.area_m2), 0) AS area, coalesce(sum(p.price_eur), 0) AS value, "
    "coalesce(sum(p.potential_savings_eur), 0) AS savings, avg(p.primary_energy_kwh_m2) AS avg_ep " + HOLDINGS
)
CLASSES_SQL = "SELECT p.energy_class, count(*) AS n " + HOLDINGS + " GROUP BY p.energy_class"


def overview_key(user_id: int) -> str:
    """Cache key of a user's portfolio overview."""
    return f"portfolio:{user_id}:overview"


async def run_queries(queries: list[Callable[[], Awaitable[Any]]], concurrent: bool) -> list[Any]:
    """Run independent queries one after another, or all at once."""
    if concurrent:
        return list(await asyncio.gather(*(q() for q in queries)))
    return [await q() for q in queries]


async def portfolio_overview(db: Database, user_id: int, concurrent: bool) -> dict[str, Any]:
    """The overview of `user_id`; 404 when the user does not exist."""
    user, portfolios, totals, classes = await run_queries(
        [
            lambda: db.fetchval(USER_SQL, user_id),
            lambda: db.fetchval(PORTFOLIO_COUNT_SQL, user_id),
            lambda: db.fetchrow(TOTALS_SQL, user_id),
            lambda: db.fetch(CLASSES_SQL, user_id),
        ],
        concurrent,
    )
    if user is None:
        raise HTTPException(404, f"user {user_id} not found")
    return overview_json(
        user_id,
        user,
        portfolios,
        totals["properties"],
        totals["area"],
        totals["value"],
        totals["savings"],
        totals["avg_ep"],
        {r["energy_class"]: r["n"] for r in classes},
        concurrent,
    )


def overview_json(
    user_id: int,
    user_name: str,
    portfolios: int,
    properties: int,
    area: float,
    value: float,
    savings: float,
    avg_ep: float | None,
    classes: dict[str, int],
    concurrent: bool,
) -> dict[str, Any]:
    """The overview, from live queries or from the L3 view alike."""
    return {
        "user_id": user_id,
        "user_name": user_name,
        "portfolios": portfolios,
        "properties": properties,
        "total_area_m2": round(area, 1),
        "total_value_eur": round(value, 2),
        "total_estimated_annual_savings_eur": round(savings, 2),
        "average_primary_energy_kwh_m2": None if avg_ep is None else round(avg_ep, 2),
        "class_distribution": dict.fromkeys(ENERGY_CLASSES, 0) | classes,
        "query_mode": "concurrent" if concurrent else "sequential",
    }


async def overview_from_view(views: MaterializedViews, user_id: int, concurrent: bool) -> dict[str, Any] | None:
    """L3: the overview from `mv_portfolio_stats` (at most one refresh interval stale), or None."""
    row = await views.portfolio(user_id)
    if row is None:
        return None
    return overview_json(
        user_id,
        row["user_name"],
        row["portfolios"],
        row["properties"],
        row["total_area_m2"],
        row["total_value_eur"],
        row["total_savings_eur"],
        row["average_primary_energy_kwh_m2"],
        row["class_distribution"],
        concurrent,
    )


@router.get("/{user_id}/overview", response_model=PortfolioOverviewOut)
async def overview(
    user_id: Annotated[int, Path(ge=1, le=MAX_ID, description="user id")], request: Request
) -> dict[str, Any]:
    """Counts, energy-class distribution, total estimated annual savings and value of a user's portfolios."""
    concurrent = request.app.state.settings.profile == "optimized"
    cache = request.app.state.cache
    views: MaterializedViews | None = getattr(cache, "views", None)
    return await cache.get_or_load(
        overview_key(user_id),
        lambda: portfolio_overview(request.app.state.db.read, user_id, concurrent),
        endpoint="portfolio_overview",
        l3=None if views is None else lambda: overview_from_view(views, user_id, concurrent),
    )
