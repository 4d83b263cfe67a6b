"""Error answers: dependency failures become 503 with a stable code, invalid requests 422; never a 500.

A 503 body names the dependency and a stable error code (`{"detail": "postgres unavailable: ...",
"error": "dependency_unavailable", "dependency": "postgres"}`), never the driver's message (that goes to
the log). A 422 body lists pydantic's errors with non-finite inputs (`NaN`, `Infinity`, `1e999`) rendered
as strings, so the answer itself is valid JSON.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import asyncpg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from system_under_test.resilience import BreakerOpen, BulkheadFull, CallTimeout, unavailable_reason

log = logging.getLogger(__name__)


def dependency_of(exc: BaseException) -> str:
    """Which dependency an exception came from (`postgres`, `redis`, a policy's name, else `dependency`)."""
    tagged = getattr(exc, "dependency", None)
    if isinstance(tagged, str):
        return tagged
    name = getattr(exc, "name", None)
    if isinstance(exc, BreakerOpen | BulkheadFull | CallTimeout) and isinstance(name, str):
        return name
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return "postgres"
    if isinstance(exc, redis.exceptions.RedisError):
        return "redis"
    return "dependency"


def _unavailable_body(dependency: str, error: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"detail": f"{dependency} unavailable: {reason}", "error": error, "dependency": dependency, **extra}


async def _postgres_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: PostgreSQL error %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    sqlstate = getattr(exc, "sqlstate", None)
    body = _unavailable_body("postgres", "database_error", "the query failed", sqlstate=sqlstate)
    return JSONResponse(body, status_code=503)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    dependency = dependency_of(exc)
    log.warning("%s %s: %s failed: %s: %s", request.method, request.url.path, dependency, type(exc).__name__, exc)
    reason = unavailable_reason(exc) or "connection failed or timed out"
    return JSONResponse(_unavailable_body(dependency, "dependency_unavailable", reason), status_code=503)


async def _rejected(request: Request, exc: Exception) -> JSONResponse:
    """A breaker or bulkhead refused the call: 503 at once, with when to come back."""
    retry_after = max(1, round(exc.retry_after_s)) if isinstance(exc, BreakerOpen) else 1
    code = "circuit_open" if isinstance(exc, BreakerOpen) else "overloaded"
    return JSONResponse(
        _unavailable_body(dependency_of(exc), code, unavailable_reason(exc) or code),
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by its JSON5 spelling (`NaN`, `Infinity`, `-Infinity`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Map PostgreSQL errors, lost connections, timeouts, Redis errors and rejected calls to 503, and
    invalid requests (non-finite numbers included) to a renderable 422."""
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(asyncpg.PostgresError, _postgres_error)
    for exc_type in (asyncpg.InterfaceError, OSError, TimeoutError, redis.exceptions.RedisError):
        app.add_exception_handler(exc_type, _unavailable)
    for exc_type in (BreakerOpen, BulkheadFull):
        app.add_exception_handler(exc_type, _rejected)
