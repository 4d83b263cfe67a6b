"""Health endpoints: `/health/live` (the process alone), `/health/ready` (dependencies) and `/health`
(full report, `application/health+json`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from system_under_test.health.checks import worst
from system_under_test.health.monitor import HealthMonitor

HEALTH_MEDIA_TYPE = "application/health+json"

router = APIRouter(tags=["health"])


class HealthJSONResponse(JSONResponse):
    """JSON with the health-check draft's media type."""

    media_type = HEALTH_MEDIA_TYPE


def _monitor(request: Request) -> HealthMonitor:
    return request.app.state.health


@router.get("/health/live", response_class=HealthJSONResponse)
async def live() -> HealthJSONResponse:
    """Liveness: answers while the process serves requests; checks no dependency."""
    return HealthJSONResponse({"status": "pass"})


@router.get("/health/ready", response_class=HealthJSONResponse, responses={503: {"description": "Not ready"}})
async def ready(request: Request) -> HealthJSONResponse:
    """Readiness: PostgreSQL reachable (hard: 503 without it). Redis is soft: reads survive without it
    (the cache degrades to L1 and the database), so Redis down is reported as `warn` and the service stays
    ready; failing readiness on it would take every replica out of rotation at once."""
    components = await _monitor(request).readiness()
    if components.get("redis") == "fail":
        components["redis"] = "warn"
    status = worst(list(components.values()))
    return HealthJSONResponse({"status": status, "checks": components}, status_code=503 if status == "fail" else 200)


@router.get("/health", response_class=HealthJSONResponse, responses={503: {"description": "Failing"}})
async def health(request: Request) -> HealthJSONResponse:
    """A fresh round of every check (sequential in baseline, concurrent in optimized)."""
    monitor = _monitor(request)
    report = await monitor.run_round()
    return HealthJSONResponse(report.as_json(monitor.profile), status_code=503 if report.status == "fail" else 200)
