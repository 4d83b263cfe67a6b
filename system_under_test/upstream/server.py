"""The market-data upstream: a small Starlette app serving recent transactions per neighbourhood.

    GET    /v1/neighbourhoods/{slug}/transactions?limit=N   recent transactions, newest first
    GET    /health                                          liveness (never faulted)
    GET    /_faults                                         current faults and counters
    PUT    /_faults   {"latency_ms", "latency_jitter_ms", "latency_distribution", "error_rate",
                       "error_status", "blackhole"}         replace the faults (missing fields: off)
    DELETE /_faults                                         reset: no faults

Fault control answers loopback clients only.
"""

from __future__ import annotations

import ipaddress
import json
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import data
from .faults import FaultSpec, FaultSpecError, FaultState

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_LIMIT = data.HISTORY


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(seed: int = 0) -> Starlette:
    faults = FaultState(seed)

    async def transactions(request: Request) -> Response:
        slug = request.path_params["slug"]
        if not SLUG.match(slug):
            return JSONResponse({"detail": f"neighbourhood slug {slug!r} is not valid"}, status_code=422)
        raw_limit = request.query_params.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            return JSONResponse({"detail": f"limit must be an integer in 1..{MAX_LIMIT}"}, status_code=422)
        status = await faults.apply()
        if status is not None:
            return JSONResponse({"detail": "injected fault"}, status_code=status)
        rows = data.transactions(slug, int(raw_limit))
        return JSONResponse({"neighbourhood": slug, "count": len(rows), "transactions": rows})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "pass"})

    async def fault_control(request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"detail": "fault control is loopback-only"}, status_code=403)
        if request.method == "PUT":
            try:
                spec = FaultSpec.from_json(json.loads(await request.body() or b"null"))
            except json.JSONDecodeError as exc:
                return JSONResponse({"detail": f"body is not JSON: {exc}"}, status_code=422)
            except FaultSpecError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=422)
            faults.set(spec)
        elif request.method == "DELETE":
            faults.reset()
        return JSONResponse(faults.describe())

    app = Starlette(
        routes=[
            Route("/v1/neighbourhoods/{slug}/transactions", transactions, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/_faults", fault_control, methods=["GET", "PUT", "DELETE"]),
        ]
    )
    app.state.faults = faults
    return app
