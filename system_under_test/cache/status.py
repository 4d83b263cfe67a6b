"""`X-Cache: HIT | MISS | STALE` on every cacheable response, as CDNs and Varnish mark theirs.

`CacheStatusMiddleware` gives each HTTP request a trace of its cache lookups; `CacheStats.record` (both
profiles' caches count every lookup there) appends each (tier, result) to it. A request whose handler
consulted the cache gets the header:

- ``MISS`` when any of its values was loaded from the live query (tier ``origin``: its own load, or a
  concurrent caller's load it waited for, "coalesced", counted as a miss the way the simulations do);
- ``HIT`` when every value came from a cache tier (L1, L2 Redis, or the L3 materialized views);
- ``STALE`` when a value was served expired because its load failed on a dependency (stale-if-error,
  cache/stale.py); the response also gets ``Warning: 110 - "Response is Stale"`` (RFC 7234).

A response that never touched the cache (writes, health, metrics) gets no header. The trace is a list
held in a context variable: the single-flight load task runs in a copy of the request's context, which
holds the same list, so the tier that answered is seen whichever task ran the load.
"""

from __future__ import annotations

from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-cache"
STALE_WARNING = (b"warning", b'110 - "Response is Stale"')
TRACE: ContextVar[list[tuple[str, str]] | None] = ContextVar("athbench_cache_trace", default=None)


def note(tier: str, result: str) -> None:
    """Add one cache lookup's outcome to the current request's trace (no-op outside a request)."""
    trace = TRACE.get()
    if trace is not None:
        trace.append((tier, result))


def status_of(trace: list[tuple[str, str]]) -> str | None:
    """``STALE``, ``MISS``, ``HIT`` or None (the cache was not consulted) for a request's trace."""
    if any(tier == "stale" for tier, _ in trace):
        return "STALE"
    if any(tier == "origin" for tier, _ in trace):
        return "MISS"
    if any(result == "hit" for _, result in trace):
        return "HIT"
    return None


class CacheStatusMiddleware:
    """Pure ASGI middleware adding ``X-Cache`` to responses whose handler consulted the cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace: list[tuple[str, str]] = []
        token = TRACE.set(trace)

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = status_of(trace)
                if status is not None:
                    message["headers"] = [*message.get("headers", []), (HEADER, status.encode())]
                    if status == "STALE":
                        message["headers"].append(STALE_WARNING)
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            TRACE.reset(token)
