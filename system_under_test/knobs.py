"""Test-only knobs (mounted only when `ATHBENCH_TEST_KNOBS=1`): a delay, a CPU burn or a stall applied
to every request, and a trivial `/_test/ping` endpoint used as the reference for capacity ratios.

`PUT /_test/knobs` `{"delay_ms": 0, "cpu_burn_ms": 0, "stall_until": null}`; `GET /_test/knobs` reads
them. Requests under `/_test/` are never slowed, so the knobs can always be reset.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

KNOB_PREFIX = "/_test/"


class Knobs(BaseModel):
    """What every request suffers before it is handled."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    delay_ms: float = Field(0.0, ge=0, le=600_000, description="asyncio.sleep before handling")
    cpu_burn_ms: float = Field(0.0, ge=0, le=60_000, description="busy loop on the event loop")
    stall_until: float | None = Field(None, ge=0, description="epoch seconds: sleep until then")


def burn_cpu_on_event_loop(milliseconds: float) -> None:
    """Spin for `milliseconds` without yielding (blocks the event loop on purpose)."""
    deadline = time.perf_counter() + milliseconds / 1000.0
    while time.perf_counter() < deadline:
        pass


async def apply_knobs(knobs: Knobs) -> None:
    """Stall, delay and burn as configured."""
    if knobs.stall_until is not None:
        remaining = knobs.stall_until - time.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
    if knobs.delay_ms > 0:
        await asyncio.sleep(knobs.delay_ms / 1000.0)
    if knobs.cpu_burn_ms > 0:
        burn_cpu_on_event_loop(knobs.cpu_burn_ms)


class KnobsMiddleware:
    """Pure ASGI middleware applying the current knobs (held in `app.state.knobs`) to each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(KNOB_PREFIX):
            await apply_knobs(scope["app"].state.knobs)
        await self.app(scope, receive, send)


router = APIRouter(prefix="/_test", tags=["test knobs"])


@router.get("/knobs")
async def read_knobs(request: Request) -> Knobs:
    """The knobs in force."""
    return request.app.state.knobs


@router.put("/knobs")
async def set_knobs(knobs: Knobs, request: Request) -> Knobs:
    """Replace the knobs (omitted fields reset to their defaults)."""
    request.app.state.knobs = knobs
    return knobs


@router.get("/ping")
async def ping() -> dict[str, bool]:
    """Trivial endpoint: no I/O, no knob applied."""
    return {"pong": True}
