"""Prometheus metrics of the service (default registry, served at `/metrics`), and the ASGI middleware
that records request latency by route template and status class.

With several uvicorn workers, `PROMETHEUS_MULTIPROC_DIR` (set by the harness, a fresh directory per service
start) switches prometheus-client to multiprocess mode: every worker writes its samples to files there and
`/metrics`, whichever worker answers, aggregates all of them (`MultiProcessCollector`). Every gauge declares
how workers combine (`multiprocess_mode`); callback gauges (`set_function`) cannot work across processes,
so the pool gauges are then refreshed by each worker after requests (at most once a second) and on scrape.
A worker marks itself dead on shutdown so its `live*` gauges disappear. Process metrics (`process_*`) are
only exposed in single-process mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram, make_asgi_app, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Latency buckets (seconds); 0.1 s is the latency target of the original assessment.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_DURATION = Histogram(
    "athbench_http_request_duration_seconds",
    "HTTP request latency by route template, method and status class",
    ["route", "method", "status_class"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "athbench_http_requests_in_flight", "HTTP requests being served", multiprocess_mode="livesum"
)
DB_POOL_SIZE = Gauge("athbench_db_pool_size", "Open connections in the PostgreSQL pool", multiprocess_mode="livesum")
DB_POOL_IN_USE = Gauge(
    "athbench_db_pool_in_use", "PostgreSQL pool connections checked out", multiprocess_mode="livesum"
)
DB_POOL_MAX = Gauge("athbench_db_pool_max", "Upper bound of the PostgreSQL pool", multiprocess_mode="livesum")
HEALTH_CHECK_DURATION = Histogram(
    "athbench_health_check_duration_seconds",
    "Duration of one health check",
    ["check"],
    buckets=LATENCY_BUCKETS,
)
HEALTH_ROUND_DURATION = Histogram(
    "athbench_health_round_duration_seconds",
    "Duration of one round of all health checks",
    buckets=LATENCY_BUCKETS,
)
HEALTH_ROUND_INTERVAL = Histogram(
    "athbench_health_round_interval_seconds",
    "Time from the start of one background health round to the start of the next",
    buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0),
)
SERVICE_INFO = Gauge(
    "athbench_service_info", "Always 1; labels describe the running service", ["profile"], multiprocess_mode="max"
)
UNMATCHED_ROUTE = "unmatched"
#: The `method` label's values: the standard methods, anything else counted as `other` (bounded series).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
OTHER_METHOD = "other"
POOL_REFRESH_INTERVAL_S = 1.0


def multiprocess_mode() -> bool:
    """True when prometheus-client writes samples to `PROMETHEUS_MULTIPROC_DIR` (several workers)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _PoolGauges:
    """The pool gauges' sources; in multiprocess mode their values are pushed instead of read at scrape."""

    def __init__(self) -> None:
        self.sources: tuple[Callable[[], float], Callable[[], float], Callable[[], float]] | None = None
        self.refreshed = 0.0

    def refresh(self, min_interval_s: float = 0.0) -> None:
        if self.sources is None:
            return
        now = time.monotonic()
        if now - self.refreshed < min_interval_s:
            return
        self.refreshed = now
        size, in_use, max_size = self.sources
        DB_POOL_SIZE.set(size())
        DB_POOL_IN_USE.set(in_use())
        DB_POOL_MAX.set(max_size())


_POOL = _PoolGauges()


def track_pool(size: Callable[[], float], in_use: Callable[[], float], max_size: Callable[[], float]) -> None:
    """Read the pool gauges from these callables at every scrape (refreshed after requests when multiprocess)."""
    if multiprocess_mode():
        _POOL.sources = (size, in_use, max_size)
        _POOL.refresh()
        return
    DB_POOL_SIZE.set_function(size)
    DB_POOL_IN_USE.set_function(in_use)
    DB_POOL_MAX.set_function(max_size)


def worker_exiting() -> None:
    """Drop this worker's `live*` gauge samples (multiprocess mode); call when the worker shuts down."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/properties/{property_id}/...`), bounded cardinality."""
    route = scope.get("route")
    return getattr(route, "path", UNMATCHED_ROUTE) if route is not None else UNMATCHED_ROUTE


def method_label(method: str) -> str:
    """The client's HTTP method if it is a standard one, else `other` (clients choose the method freely)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


class MetricsMiddleware:
    """Pure ASGI middleware: in-flight gauge and latency histogram of every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        REQUESTS_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            REQUESTS_IN_FLIGHT.dec()
            REQUEST_DURATION.labels(route_template(scope), method_label(scope["method"]), f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
            _POOL.refresh(POOL_REFRESH_INTERVAL_S)


class MetricsEndpoint:
    """prometheus-client's ASGI app as a Starlette route endpoint (a class instance, so Starlette
    passes the raw ASGI call through); in multiprocess mode it serves every worker's samples."""

    def __init__(self) -> None:
        registry = REGISTRY
        if multiprocess_mode():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        self._app = make_asgi_app(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _POOL.refresh()
        await self._app(scope, receive, send)
