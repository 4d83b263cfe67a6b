"""Stored properties: `GET .../{id}/energy-assessment` (cached) and `PATCH /api/v1/properties/{id}` (admin)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import TypeAdapter

from system_under_test.api.assessments import assess_with_recommendations
from system_under_test.api.auth import require_admin
from system_under_test.api.models import MAX_ID, PropertyAssessmentOut, PropertyOut, PropertyUpdate
from system_under_test.cache.base import Cache
from system_under_test.db import Database
from system_under_test.domain.assessment import BuildingSpec, assess
from system_under_test.domain.recommendations import package

router = APIRouter(prefix="/api/v1/properties", tags=["properties"])

PropertyId = Annotated[int, Path(ge=1, le=MAX_ID, description="property id")]

PROPERTY_COLUMNS = (
    "p.id, p.address, n.slug AS neighbourhood, p.neighbourhood_id, p.climate_zone, p.area_m2, p.year_built, "
    "p.floors, p.insulation, p.windows, p.heating_system, p.hot_water, p.solar_fraction, p.price_eur, "
    "p.primary_energy_kwh_m2, p.energy_class, p.potential_savings_eur, n.base_price_per_m2"
)
INTERNAL_COLUMNS = ("neighbourhood_id", "base_price_per_m2")
SPEC_FIELDS = (
    "area_m2", "floors", "year_built", "insulation", "windows", "heating_system", "hot_water",
    "solar_fraction", "climate_zone",
)  # fmt: skip


def property_prefix(property_id: int) -> str:
    """Cache-key prefix of everything cached about one property (same as `cache.base.property_prefix`)."""
    return f"property:{property_id}:"


def assessment_key(property_id: int) -> str:
    """Cache key of a property's energy assessment."""
    return f"{property_prefix(property_id)}energy-assessment"


async def load_property(db: Database, property_id: int) -> dict[str, Any]:
    """The property row as a dict; 404 when it does not exist."""
    row = await db.fetchrow(
        f"SELECT {PROPERTY_COLUMNS} FROM properties p JOIN neighbourhoods n ON n.id = p.neighbourhood_id "
        "WHERE p.id = $1",
        property_id,
    )
    if row is None:
        raise HTTPException(404, f"property {property_id} not found")
    return dict(row)


def spec_of(row: dict[str, Any]) -> BuildingSpec:
    """The building of a property row."""
    return BuildingSpec(**{f: row[f] for f in SPEC_FIELDS})


def property_json(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a property row."""
    return {k: v for k, v in row.items() if k not in INTERNAL_COLUMNS}


ASSESSMENT_OUT: TypeAdapter[PropertyAssessmentOut] = TypeAdapter(PropertyAssessmentOut)


def render_assessment(value: dict[str, Any]) -> str:
    """The response body of a property's assessment: validated against `PropertyAssessmentOut` and
    serialized, byte for byte what FastAPI would send for `value`."""
    return ASSESSMENT_OUT.dump_json(ASSESSMENT_OUT.validate_python(value)).decode()


@router.get("/{property_id}/energy-assessment", response_model=PropertyAssessmentOut)
async def property_energy_assessment(property_id: PropertyId, request: Request) -> Response:
    """Energy class, primary energy and renovation recommendations of a stored property."""
    # The cache holds the rendered body: validated and serialized once per load, not on every answer.
    db: Database = request.app.state.db

    async def load() -> str:
        row = await load_property(db.read, property_id)
        return render_assessment({"property": property_json(row), **assess_with_recommendations(spec_of(row))})

    body = await request.app.state.cache.get_or_load(assessment_key(property_id), load, endpoint="energy_assessment")
    if not isinstance(body, str):  # an entry an older version cached as the unrendered dict
        body = render_assessment(body)
    return Response(body, media_type="application/json")


@router.patch("/{property_id}", response_model=PropertyOut, dependencies=[Depends(require_admin)])
async def update_property(property_id: PropertyId, update: PropertyUpdate, request: Request) -> dict[str, Any]:
    """Change a property (admin token required); derived energy columns are recomputed and every cache
    entry about the property is invalidated, with its neighbourhood's comparison and its holders' overviews."""
    db: Database = request.app.state.db
    changes = update.model_dump(exclude_unset=True)
    affected = Affected(property_id)

    async def apply(conn: asyncpg.Connection) -> dict[str, Any] | None:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {PROPERTY_COLUMNS} FROM properties p JOIN neighbourhoods n "
                "ON n.id = p.neighbourhood_id WHERE p.id = $1 FOR UPDATE OF p",
                property_id,
            )
            if row is None:
                return None
            affected.neighbourhood = row["neighbourhood"]
            affected.users = [r["user_id"] for r in await conn.fetch(HOLDERS_SQL, property_id)]
            merged = {**dict(row), **changes}
            spec = spec_of(merged)
            current = assess(spec)
            bundle = package(spec, current)
            merged.update(
                primary_energy_kwh_m2=round(current.primary_energy_kwh_m2, 2),
                energy_class=current.energy_class,
                potential_savings_eur=bundle.annual_savings_eur if bundle else 0.0,
            )
            await conn.execute(
                "UPDATE properties SET area_m2 = $2, floors = $3, year_built = $4, insulation = $5, "
                "windows = $6, heating_system = $7, hot_water = $8, solar_fraction = $9, price_eur = $10, "
                "primary_energy_kwh_m2 = $11, energy_class = $12, potential_savings_eur = $13 WHERE id = $1",
                property_id,
                *(merged[f] for f in SPEC_FIELDS[:-1]),
                merged["price_eur"],
                merged["primary_energy_kwh_m2"],
                merged["energy_class"],
                merged["potential_savings_eur"],
            )
            return merged

    try:
        updated = await db.run(apply)
    finally:
        # Also when the time limit fires after COMMIT (the 503 does not mean "not written"); shielded, so
        # a cancelled request still completes its invalidation.
        await asyncio.shield(affected.invalidate(request.app.state.cache))
    if updated is None:
        raise HTTPException(404, f"property {property_id} not found")
    return property_json(updated)


HOLDERS_SQL = (
    "SELECT DISTINCT pf.user_id FROM portfolio_properties pp JOIN portfolios pf ON pf.id = pp.portfolio_id "
    "WHERE pp.property_id = $1"
)


@dataclass
class Affected:
    """Every cached answer a write to one property changes: its own entries (assessment, positions), its
    neighbourhood's comparison and the portfolio overviews of the users holding it."""

    property_id: int
    neighbourhood: str | None = None
    users: list[int] = field(default_factory=list)

    async def invalidate(self, cache: Cache) -> None:
        from system_under_test.api.market import comparison_key  # market imports this module
        from system_under_test.api.portfolios import overview_key

        await cache.invalidate_prefix(property_prefix(self.property_id))
        if self.neighbourhood is not None:
            await cache.invalidate(comparison_key(self.neighbourhood))
        for user_id in self.users:
            await cache.invalidate(overview_key(user_id))
