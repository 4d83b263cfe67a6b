"""The service's application factory: `python -m uvicorn system_under_test.app:create_app --factory`.

Start-up (lifespan) builds the resilience policies (every PostgreSQL, Redis and upstream call goes
through one), opens the PostgreSQL pool and the Redis client, builds the profile's cache and the
market-data client, starts the event-loop lag monitor,
the CPU sampler (optimized profile) and the health loop, and fits the price model when data exist.
Nothing fails when PostgreSQL or Redis is down: the service starts and `/health/ready` says 503.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException
from starlette.routing import Route

from system_under_test import knobs, replica
from system_under_test.api import admin_backups, assessments, market, portfolios, prediction, properties
from system_under_test.api.errors import install_error_handlers
from system_under_test.api.market_prices import PriceDistributions
from system_under_test.backup.runtime import BackupRuntime
from system_under_test.cache import build_cache
from system_under_test.cache import routes as cache_routes
from system_under_test.cache.status import CacheStatusMiddleware
from system_under_test.db import Database
from system_under_test.health import routes as health_routes
from system_under_test.health.cpu import CpuSampler
from system_under_test.health.monitor import HealthMonitor
from system_under_test.limits import BodySizeLimitMiddleware
from system_under_test.loop_lag import LoopLagMonitor
from system_under_test.metrics import SERVICE_INFO, MetricsEndpoint, MetricsMiddleware, track_pool, worker_exiting
from system_under_test.resilience import build_policies
from system_under_test.settings import Settings
from system_under_test.upstream import MarketDataClient

log = logging.getLogger("system_under_test")

REDIS_TIMEOUT_S = 2.0


async def _warm_price_model(holder: prediction.PriceModelHolder) -> None:
    try:
        await holder.get()
    except (HTTPException, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.warning("price model not fitted at start-up (will fit on first use): %s", exc)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open connections and start background tasks; undo everything on shutdown."""
    settings: Settings = app.state.settings
    policies = build_policies(postgres_pool_size=settings.db_pool_size)
    db = await Database.open(
        settings.postgres_dsn, settings.db_pool_size, policies.postgres, settings.db_statement_cache_size
    )
    if settings.postgres_replica_dsn:  # read-only endpoint queries go there (Database.read)
        db.replica = await Database.open(settings.postgres_replica_dsn, settings.db_pool_size)
    redis = aioredis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    sampler = CpuSampler() if settings.profile == "optimized" else None
    app.state.db = db
    app.state.redis = redis
    app.state.policies = policies
    app.state.cache = build_cache(settings, redis, db, redis_policy=policies.redis)
    app.state.market_data = MarketDataClient(settings.upstream_url, policies.upstream)
    app.state.loop_lag = LoopLagMonitor()
    app.state.health = HealthMonitor(settings.profile, db, redis, settings.health_interval_s, sampler)
    app.state.price_model = prediction.PriceModelHolder(db)
    app.state.market_prices = PriceDistributions(db) if settings.profile == "optimized" else None
    backups = BackupRuntime.start(settings)  # None when ATHBENCH_BACKUP_DIR is not set
    app.state.backups = backups.service if backups is not None else None
    if backups is not None:
        app.state.health.extra_checks.append(("backup:rpo", backups.rpo_check))
    if db.replica is not None:
        app.state.health.extra_checks.append((replica.CHECK_KEY, lambda: replica.lag_check(db.read)))
    track_pool(db.size, db.in_use, db.max_size)
    SERVICE_INFO.labels(settings.profile).set(1)

    app.state.loop_lag.start()
    if sampler is not None:
        sampler.start()
    await app.state.cache.start()
    app.state.health.start()
    await _warm_price_model(app.state.price_model)
    try:
        yield
    finally:
        if backups is not None:
            await backups.stop()
        await app.state.health.stop()
        await app.state.cache.close()
        await app.state.market_data.close()
        if sampler is not None:
            await sampler.stop()
        await app.state.loop_lag.stop()
        await redis.aclose()
        await db.close()
        worker_exiting()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service from `settings` (default: `Settings.from_env()`)."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="athbench energy-assessment service",
        version="0.1.0",
        description="Energy assessment of real-estate properties (the system under test of athbench).",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry hooks look up the global providers on every request; the service
        # exports its own Prometheus metrics and configures no OpenTelemetry provider.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.knobs = knobs.Knobs()
    install_error_handlers(app)
    for module in (assessments, properties, prediction, portfolios, market, health_routes, cache_routes):
        app.include_router(module.router)
    app.include_router(admin_backups.router)
    app.router.routes.append(Route("/metrics", MetricsEndpoint(), include_in_schema=False))
    if settings.test_knobs:
        app.include_router(knobs.router)
        app.add_middleware(knobs.KnobsMiddleware)
    app.add_middleware(CacheStatusMiddleware)  # X-Cache: HIT | MISS on responses that consulted the cache
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    return app
