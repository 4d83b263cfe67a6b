"""`GET /api/v1/market/{neighbourhood}/comparison`: median price per m2, a property's percentile and
the energy-class mix of a neighbourhood, plus recent-sales figures from the market-data upstream.

Degradation: when the upstream is not configured, slow (time limit), failing or its breaker is open,
the comparison is still answered from the database / cache with `upstream: null`, `degraded: true`
and `degraded_reason`; only the database being unavailable makes it a 503.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from system_under_test.api.market_prices import PriceDistributions
from system_under_test.api.models import MAX_ID, MarketComparisonOut
from system_under_test.api.properties import load_property, property_prefix
from system_under_test.cache.materialized import MaterializedViews
from system_under_test.db import Database
from system_under_test.domain.energy import ENERGY_CLASSES
from system_under_test.resilience import unavailable_reason
from system_under_test.upstream import UpstreamNotConfigured

router = APIRouter(prefix="/api/v1/market", tags=["market"])

NEIGHBOURHOOD_SQL = "SELECT id AS neighbourhood_id, slug, name, city, climate_zone FROM neighbourhoods WHERE slug = $1"
PRICES_SQL = (
    "SELECT count(*) AS n, percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY price_per_m2) AS q "
    "FROM market_transactions WHERE neighbourhood_id = $1"
)
CLASSES_SQL = "SELECT energy_class, count(*) AS n FROM properties WHERE neighbourhood_id = $1 GROUP BY energy_class"
PERCENTILE_SQL = (
    "SELECT 100.0 * count(*) FILTER (WHERE price_per_m2 <= $2) / nullif(count(*), 0) "
    "FROM market_transactions WHERE neighbourhood_id = $1"
)


def comparison_key(slug: str) -> str:
    """Cache key of a neighbourhood's aggregates (a PATCH of any of its properties invalidates it)."""
    return f"market:{slug}:comparison"


def position_key(property_id: int, slug: str) -> str:
    """Cache key of a property's position in a neighbourhood (under the property's prefix: a PATCH of it
    invalidates it, whichever neighbourhood it was placed in)."""
    return f"{property_prefix(property_id)}position:{slug}"


UPSTREAM_TTL_S = 30.0
UPSTREAM_LIMIT = 50


def summarize_transactions(transactions: list[dict[str, Any]]) -> dict[str, Any]:
    """The upstream figures shown in a comparison: recent sales count, their median price per m2, latest date."""
    per_m2 = sorted(t["price_per_m2"] for t in transactions)
    n = len(per_m2)
    median = None if n == 0 else (per_m2[n // 2] if n % 2 else (per_m2[n // 2 - 1] + per_m2[n // 2]) / 2)
    return {
        "recent_transactions": n,
        "recent_median_price_per_m2": None if median is None else round(median, 2),
        "latest_sale": max((t["sold_on"] for t in transactions), default=None),
    }


async def fetch_upstream_market_data(request: Request, slug: str) -> tuple[dict[str, Any] | None, str | None]:
    """Market-data figures from the upstream (cached `UPSTREAM_TTL_S`, so a failing upstream is bridged
    for that long), or (None, reason) when it is not configured or fails: the comparison degrades."""
    client = request.app.state.market_data

    async def load() -> dict[str, Any]:
        return summarize_transactions(await client.recent_transactions(slug, UPSTREAM_LIMIT))

    try:
        figures = await request.app.state.cache.get_or_load(
            f"market:{slug}:upstream", load, endpoint="market_upstream", ttl_s=UPSTREAM_TTL_S
        )
    except UpstreamNotConfigured as exc:
        return None, str(exc)
    except Exception as exc:  # breaker open, timeout, bulkhead full, HTTP error: degrade, never fail
        return None, unavailable_reason(exc) or f"market-data upstream failed: {exc}"
    return figures, None


async def property_position(
    db: Database, neighbourhood_id: int, property_id: int, distributions: PriceDistributions | None = None
) -> dict[str, Any]:
    """Where a property's price per m2 falls among the neighbourhood's recorded sales: counted by the
    database (baseline) or looked up in the neighbourhood's sorted prices (optimized: `distributions`)."""
    prop = await load_property(db, property_id)
    per_m2 = prop["price_eur"] / prop["area_m2"]
    if distributions is not None:
        percentile = await distributions.percentile(neighbourhood_id, per_m2)
    else:
        percentile = await db.fetchval(PERCENTILE_SQL, neighbourhood_id, per_m2)
    return {
        "property_id": property_id,
        "price_per_m2": round(per_m2, 2),
        "percentile": None if percentile is None else round(float(percentile), 2),
    }


def comparison_json(
    hood: Any, transactions: int, quartiles: list[float] | None, classes: dict[str, int], position: Any
) -> dict[str, Any]:
    """The comparison, from live queries or from the L3 view alike."""
    q = quartiles or [None, None, None]
    return {
        "neighbourhood_id": hood["neighbourhood_id"],  # internal: the position query needs it
        "neighbourhood": hood["slug"],
        "name": hood["name"],
        "city": hood["city"],
        "climate_zone": hood["climate_zone"],
        "transactions": transactions,
        "p25_price_per_m2": None if q[0] is None else round(q[0], 2),
        "median_price_per_m2": None if q[1] is None else round(q[1], 2),
        "p75_price_per_m2": None if q[2] is None else round(q[2], 2),
        "class_distribution": dict.fromkeys(ENERGY_CLASSES, 0) | classes,
        "property": position,
    }


async def market_comparison(db: Database, slug: str, distributions: PriceDistributions | None = None) -> dict[str, Any]:
    """The neighbourhood's aggregates; 404 for an unknown neighbourhood. The sales' quartiles are computed
    by the database (baseline) or from the neighbourhood's sorted prices (optimized: `distributions`; the
    same linear interpolation as `percentile_cont`), so a write to a property, which changes only the
    class distribution, costs one aggregate query instead of two."""
    hood = await db.fetchrow(NEIGHBOURHOOD_SQL, slug)
    if hood is None:
        raise HTTPException(404, f"neighbourhood {slug!r} not found")
    classes = await db.fetch(CLASSES_SQL, hood["neighbourhood_id"])
    by_class = {r["energy_class"]: r["n"] for r in classes}
    if distributions is not None:
        n, quartiles = await distributions.quartiles(hood["neighbourhood_id"])
        return comparison_json(hood, n, quartiles, by_class, None)
    prices = await db.fetchrow(PRICES_SQL, hood["neighbourhood_id"])
    return comparison_json(hood, prices["n"], prices["q"], by_class, None)


async def comparison_from_view(views: MaterializedViews, slug: str) -> dict[str, Any] | None:
    """L3: the aggregates from `mv_market_stats` (at most one refresh interval stale); None when the view
    has no row for `slug` (the loader then answers, or 404s)."""
    row = await views.market(slug)
    if row is None:
        return None
    return comparison_json(row, row["transactions"], row["price_per_m2_quartiles"], row["class_distribution"], None)


@router.get("/{neighbourhood}/comparison", response_model=MarketComparisonOut)
async def comparison(
    neighbourhood: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$", description="neighbourhood slug")],
    request: Request,
    property_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="place this property")] = None,
) -> dict[str, Any]:
    """Median price per m2 (from recorded sales), a property's percentile and the class distribution."""
    db, cache, distributions = request.app.state.db, request.app.state.cache, request.app.state.market_prices
    views: MaterializedViews | None = getattr(cache, "views", None)
    result = await cache.get_or_load(
        comparison_key(neighbourhood),
        lambda: market_comparison(db.read, neighbourhood, distributions),
        endpoint="market_comparison",
        l3=None if views is None else lambda: comparison_from_view(views, neighbourhood),
    )
    if property_id is not None:
        hood_id = result["neighbourhood_id"]
        position = await cache.get_or_load(
            position_key(property_id, neighbourhood),
            lambda: property_position(db.read, hood_id, property_id, distributions),
            endpoint="market_position",
        )
        result = {**result, "property": position}
    upstream, reason = await fetch_upstream_market_data(request, neighbourhood)
    return {**result, "upstream": upstream, "degraded": upstream is None, "degraded_reason": reason}
