"""Cache and resilience analytics: `GET /api/v1/analytics/cache`, `GET /api/v1/analytics/resilience`,
and the admin `POST /admin/cache/flush` (bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ..api.auth import require_admin

router = APIRouter(tags=["cache"])


@router.get("/api/v1/analytics/cache")
async def cache_analytics(request: Request) -> dict[str, Any]:
    """Hits, misses and errors per tier and per endpoint, overall hit ratios, and tier sizes."""
    return request.app.state.cache.stats()


@router.get("/api/v1/analytics/resilience")
async def resilience_analytics(request: Request) -> dict[str, Any]:
    """State of every dependency's breaker, bulkhead and time limit."""
    return request.app.state.policies.describe()


@router.post("/admin/cache/flush", dependencies=[Depends(require_admin)])
async def flush_cache(request: Request) -> dict[str, Any]:
    """Drop every cached entry (all tiers; other service processes' L1 via the invalidation channel)."""
    await request.app.state.cache.flush()
    return {"flushed": True, "profile": request.app.state.cache.profile}
