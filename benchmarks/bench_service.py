"""The service with the real stack (embedded PostgreSQL, seeded, and Redis started in setup).

- one health round (`HealthMonitor.run_round`) in each profile;
- in-process request latency through the ASGI app (lifespan running, httpx ASGITransport) of the
  energy-assessment endpoints: a stored property (`GET .../energy-assessment`, cached after the first
  call) and an ad-hoc building (`POST /api/v1/energy-assessments`);
- peak resident memory of the service process at start-up (uvicorn, up to `/health/ready`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import httpx
import redis.asyncio as aioredis

from benchmarks import skip_if_missing
from benchmarks.bench_energy import BUILDING

try:
    import asyncpg

    from harness.postgres import EmbeddedPostgres
    from harness.processes import ProcessGroup
    from harness.redis_server import EmbeddedRedis
    from harness.stack import Stack, StackConfig
    from system_under_test.app import create_app
    from system_under_test.data.seed import seed
    from system_under_test.db import Database
    from system_under_test.health.cpu import CpuSampler
    from system_under_test.health.monitor import HealthMonitor
    from system_under_test.settings import Settings

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc

PROPERTIES = 500
DATABASE = "athbench_bench"


class Servers:
    """Embedded PostgreSQL with `properties` seeded properties and an empty Redis; `stop()` ends both."""

    def __init__(self, properties: int) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="athbench-asv-"))
        self.group = ProcessGroup(self.directory / "logs")
        try:
            self.postgres = EmbeddedPostgres(self.directory / "pgdata", self.group, settings={"fsync": "off"})
            self.postgres.start()
            asyncio.run(_execute(self.postgres.dsn, f'CREATE DATABASE "{DATABASE}"'))
            self.postgres_dsn = self.postgres.dsn_for(DATABASE)
            asyncio.run(seed(self.postgres_dsn, properties))
            self.redis = EmbeddedRedis(self.directory / "redis", self.group)
            self.redis.start()
            self.redis_url = self.redis.url
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.group.stop_all()
        shutil.rmtree(self.directory, ignore_errors=True)


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class HealthRoundSuite:
    """One round of every health check against real PostgreSQL and Redis."""

    params: ClassVar[list[str]] = ["baseline", "optimized"]
    param_names: ClassVar[list[str]] = ["profile"]
    timeout = 180.0
    number = 1
    repeat = (1, 5, 20.0)

    def setup(self, profile: str) -> None:
        skip_if_missing(MISSING)
        self.servers = Servers(PROPERTIES)
        self.loop = asyncio.new_event_loop()
        self.db = self.loop.run_until_complete(Database.open(self.servers.postgres_dsn, 4))
        self.redis = aioredis.from_url(self.servers.redis_url)
        sampler = None
        if profile == "optimized":
            sampler = CpuSampler()
            sampler.sample()
        self.monitor = HealthMonitor(profile, self.db, self.redis, 3600.0, sampler)  # type: ignore[arg-type]

    def teardown(self, profile: str) -> None:
        if MISSING is not None:  # asv tears down after a skipped setup too
            return
        self.loop.run_until_complete(self.redis.aclose())
        self.loop.run_until_complete(self.db.close())
        self.loop.close()
        self.servers.stop()

    def time_health_round(self, profile: str) -> None:
        self.loop.run_until_complete(self.monitor.run_round())


class EnergyEndpointSuite:
    """Request latency through the ASGI app, in-process (no network, no load generator)."""

    timeout = 180.0

    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.servers = Servers(PROPERTIES)
        self.loop = asyncio.new_event_loop()
        settings = Settings(
            postgres_dsn=self.servers.postgres_dsn, redis_url=self.servers.redis_url, health_interval_s=3600.0
        )
        self.stack = contextlib.AsyncExitStack()
        app = create_app(settings)
        self.loop.run_until_complete(self.stack.enter_async_context(app.router.lifespan_context(app)))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sut.test")
        self.loop.run_until_complete(self.stack.enter_async_context(self.client))
        warm = self.loop.run_until_complete(self.client.get("/api/v1/properties/1/energy-assessment"))
        warm.raise_for_status()

    def teardown(self) -> None:
        if MISSING is not None:  # asv tears down after a skipped setup too
            return
        self.loop.run_until_complete(self.stack.aclose())
        self.loop.close()
        self.servers.stop()

    def time_get_property_energy_assessment_cached(self) -> None:
        self.loop.run_until_complete(self.client.get("/api/v1/properties/1/energy-assessment"))

    def time_post_energy_assessment(self) -> None:
        self.loop.run_until_complete(self.client.post("/api/v1/energy-assessments", json=BUILDING))


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (the process's peak resident set) from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


class ServiceStartupMemorySuite:
    """The service process's peak RSS from exec to ready (its own process; the stack around it excluded)."""

    timeout = 240.0
    number = 1
    repeat = 1

    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.directory = Path(tempfile.mkdtemp(prefix="athbench-asv-memory-"))

    def teardown(self) -> None:
        if MISSING is None:  # asv tears down after a skipped setup too
            shutil.rmtree(self.directory, ignore_errors=True)

    def track_service_startup_peak_rss_mb(self) -> float:
        config = StackConfig(run_dir=self.directory, seed_properties=PROPERTIES, upstream=False)
        with Stack(config) as stack:
            return _peak_rss_mb(stack.service_processes()[0].pid)

    track_service_startup_peak_rss_mb.unit = "MB"  # type: ignore[attr-defined]
