"""Dependency failures become 503 with a reason, never a 500."""

from __future__ import annotations

import asyncpg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from system_under_test.resilience import BreakerOpen, BulkheadFull, unavailable_reason


async def _postgres_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"database error: {type(exc).__name__}: {exc}"}, status_code=503)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    reason = str(exc) or type(exc).__name__
    return JSONResponse({"detail": f"dependency unavailable: {reason}"}, status_code=503)


async def _rejected(request: Request, exc: Exception) -> JSONResponse:
    """A breaker or bulkhead refused the call: 503 at once, with when to come back."""
    retry_after = max(1, round(exc.retry_after_s)) if isinstance(exc, BreakerOpen) else 1
    return JSONResponse(
        {"detail": f"dependency unavailable: {unavailable_reason(exc)}"},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map PostgreSQL errors, lost connections, timeouts, Redis errors and rejected calls to 503."""
    app.add_exception_handler(asyncpg.PostgresError, _postgres_error)
    for exc_type in (asyncpg.InterfaceError, OSError, TimeoutError, redis.exceptions.RedisError):
        app.add_exception_handler(exc_type, _unavailable)
    for exc_type in (BreakerOpen, BulkheadFull):
        app.add_exception_handler(exc_type, _rejected)
