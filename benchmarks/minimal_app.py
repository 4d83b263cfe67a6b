"""The reference of `benchmarks.miss_path`: a minimal Starlette + asyncpg endpoint doing the service's read.

`GET /api/v1/properties/{id}/energy-assessment` runs the same primary-key query as the service's
endpoint (`system_under_test.api.properties.PROPERTY_COLUMNS`, the same join) on a pool of the same
size and answers the row as JSON: no cache, no resilience policy, no energy model, no middleware. It
is what the same read costs without the service's layers. Like the service's pool, this one skips
asyncpg's reset query on release (one round trip per request fewer), so it is not a slower reference.

    MINIMAL_POSTGRES_DSN=postgresql://... python -m uvicorn benchmarks.minimal_app:create_app --factory
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

try:  # asv imports every module under benchmarks/, also on commits older than this one's imports
    from system_under_test.api.properties import PROPERTY_COLUMNS

    MISSING: ImportError | None = None
except ImportError as exc:
    MISSING, PROPERTY_COLUMNS = exc, ""

DSN_VARIABLE = "MINIMAL_POSTGRES_DSN"
POOL_VARIABLE = "MINIMAL_POOL_SIZE"
QUERY = (
    f"SELECT {PROPERTY_COLUMNS} FROM properties p JOIN neighbourhoods n ON n.id = p.neighbourhood_id WHERE p.id = $1"
)


async def energy_assessment(request: Request) -> Response:
    """The property row by primary key, as JSON; 404 when absent."""
    property_id = int(request.path_params["property_id"])
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(QUERY, property_id)
    if row is None:
        return Response(b'{"detail":"not found"}', status_code=404, media_type="application/json")
    return Response(json.dumps(dict(row), separators=(",", ":")).encode(), media_type="application/json")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """No `RESET ALL; ...` round trip on release (the app changes no session state)."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ[DSN_VARIABLE],
        min_size=1,
        max_size=int(os.environ.get(POOL_VARIABLE, "10")),
        reset=_no_reset,
    )
    try:
        yield
    finally:
        await app.state.pool.close()


def create_app() -> Starlette:
    """The one-route app (configured by $MINIMAL_POSTGRES_DSN and $MINIMAL_POOL_SIZE)."""
    if MISSING is not None:
        raise MISSING
    route = Route("/api/v1/properties/{property_id:int}/energy-assessment", energy_assessment)
    return Starlette(routes=[route], lifespan=lifespan)
