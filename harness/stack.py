"""The stack under test: PostgreSQL, Redis, the market-data upstream and the service, started together.

`Stack` is a context manager. Embedded servers are used unless an external PostgreSQL DSN / Redis URL is
given (flag or ATHBENCH_POSTGRES_DSN / ATHBENCH_REDIS_URL). Every process it starts runs in its own process
group and is stopped on exit, on error, on Ctrl-C and on SIGTERM (see harness.processes).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness import postgres, redis_server
from harness.processes import Child, ProcessError, ProcessGroup, free_port, port_in_use, wait_for_port

PROFILES = ("baseline", "optimized")
DATABASE = "athbench"

Progress = Callable[[int, int], None]


class StackError(RuntimeError):
    """The stack could not be brought up; the message names the part and the reason."""


@dataclass
class StackConfig:
    """What to start and how; `None` for a server means the embedded one."""

    run_dir: Path
    profile: str = "optimized"
    postgres_dsn: str | None = None
    redis_url: str | None = None
    service_port: int | None = None
    seed_properties: int = 10_000
    admin_token: str | None = None
    health_interval: float | None = None
    test_knobs: bool = False
    workers: int = 1
    upstream: bool = True
    service_env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0

    @classmethod
    def from_env(cls, run_dir: Path, **overrides: Any) -> StackConfig:
        """Fill external server addresses from ATHBENCH_POSTGRES_DSN / ATHBENCH_REDIS_URL unless given."""
        overrides.setdefault("postgres_dsn", os.environ.get("ATHBENCH_POSTGRES_DSN") or None)
        overrides.setdefault("redis_url", os.environ.get("ATHBENCH_REDIS_URL") or None)
        return cls(run_dir=run_dir, **overrides)


class Stack:
    """A running stack. Use as `with Stack(config) as stack: ...`."""

    def __init__(self, config: StackConfig, seed_progress: Progress | None = None) -> None:
        if config.profile not in PROFILES:
            raise StackError(f"unknown profile {config.profile!r}: choose one of {', '.join(PROFILES)}")
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.group = ProcessGroup(self.run_dir / "logs")
        self.admin_token = config.admin_token or secrets.token_urlsafe(24)
        self.profile = config.profile
        self.seed_progress = seed_progress
        self.embedded_postgres: postgres.EmbeddedPostgres | None = None
        self.embedded_redis: redis_server.EmbeddedRedis | None = None
        self.postgres_dsn = ""
        self.redis_url = ""
        self.upstream_url = ""
        self.service_url = ""
        self.service: Child | None = None
        self.upstream: Child | None = None
        self.versions: dict[str, str] = {}
        self.seed_report: Any = None
        self.startup_seconds: dict[str, float] = {}

    # lifecycle -----------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start_postgres()
            self._start_redis()
            self._seed()
            if self.config.upstream:
                self._start_upstream()
            self.start_service()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process this stack started (service first, databases last)."""
        self.group.stop_all()
        self.service = None
        self.upstream = None

    # parts ---------------------------------------------------------------------------------------
    def _start_postgres(self) -> None:
        t0 = time.perf_counter()
        if self.config.postgres_dsn:
            self.versions["postgres"] = postgres.check_reachable(self.config.postgres_dsn)
            self.postgres_dsn = self.config.postgres_dsn
        else:
            server = postgres.EmbeddedPostgres(self.run_dir / "pgdata", self.group)
            server.start()
            self.embedded_postgres = server
            self.versions["postgres"] = server.version()
            _create_database(server.dsn, DATABASE)
            self.postgres_dsn = server.dsn_for(DATABASE)
        self.startup_seconds["postgres"] = time.perf_counter() - t0

    def _start_redis(self) -> None:
        t0 = time.perf_counter()
        if self.config.redis_url:
            self.versions["redis"] = redis_server.check_reachable(self.config.redis_url)
            self.redis_url = self.config.redis_url
        else:
            server = redis_server.EmbeddedRedis(self.run_dir / "redis", self.group)
            server.start()
            self.embedded_redis = server
            self.versions["redis"] = server.version()
            self.redis_url = server.url
        self.startup_seconds["redis"] = time.perf_counter() - t0

    def _seed(self) -> None:
        from system_under_test.data.seed import ensure_seeded

        t0 = time.perf_counter()
        self.seed_report = asyncio.run(
            ensure_seeded(self.postgres_dsn, self.config.seed_properties, progress=self.seed_progress)
        )
        self.startup_seconds["seed"] = time.perf_counter() - t0

    def _start_upstream(self) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "system_under_test.upstream", "--host", "127.0.0.1", "--port", str(port)]
        self.upstream = self.group.start("upstream", argv, env=_child_env({}))
        try:
            wait_for_port(port, timeout=30, proc=self.upstream)
        except ProcessError as exc:
            raise StackError(f"market-data upstream did not start: {exc}") from exc
        self.upstream_url = f"http://127.0.0.1:{port}"

    def service_environment(self, profile: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment the service process gets (its whole configuration)."""
        env = {
            "ATHBENCH_POSTGRES_DSN": self.postgres_dsn,
            "ATHBENCH_REDIS_URL": self.redis_url,
            "ATHBENCH_PROFILE": profile or self.profile,
            "ATHBENCH_ADMIN_TOKEN": self.admin_token,
            "ATHBENCH_BACKUP_DIR": str(self.run_dir / "backups"),
            "ATHBENCH_PG_BIN": str(postgres.pg_bin_dir()),
        }
        if self.upstream_url:
            env["ATHBENCH_UPSTREAM_URL"] = self.upstream_url
        if self.config.health_interval is not None:
            env["ATHBENCH_HEALTH_INTERVAL"] = str(self.config.health_interval)
        if self.config.test_knobs:
            env["ATHBENCH_TEST_KNOBS"] = "1"
        env.update(self.config.service_env)
        env.update(extra or {})
        return env

    def start_service(
        self, profile: str | None = None, extra_env: Mapping[str, str] | None = None, workers: int | None = None
    ) -> None:
        """Start (or restart) the service (with `workers` processes, default the config's); wait until ready."""
        if self.service is not None:
            self.group.remove(self.service)
            self.service = None
        if profile is not None:
            if profile not in PROFILES:
                raise StackError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
            self.profile = profile
        port = self.config.service_port or free_port()
        if port_in_use(port):
            raise StackError(f"cannot start the service: port 127.0.0.1:{port} is already in use")
        argv = [
            sys.executable, "-m", "uvicorn", "system_under_test.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
            "--workers", str(workers or self.config.workers),
        ]  # fmt: skip
        env = _child_env(self.service_environment(self.profile, extra_env))
        if (workers or self.config.workers) > 1:  # prometheus-client multiprocess mode, fresh for this start
            env["PROMETHEUS_MULTIPROC_DIR"] = str(_fresh_dir(self.run_dir / "prometheus-multiproc"))
        t0 = time.perf_counter()
        self.service = self.group.start(f"service-{self.profile}", argv, env=env)
        self.service_url = f"http://127.0.0.1:{port}"
        self._wait_ready(self.service)
        self.startup_seconds["service"] = time.perf_counter() - t0

    def _wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + self.config.ready_timeout
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not child.alive():
                    raise StackError(f"the service exited with code {child.popen.returncode}:\n{child.log_tail()}")
                try:
                    response = client.get(f"{self.service_url}/health/ready")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = str(exc) or type(exc).__name__
                time.sleep(0.1)
        raise StackError(
            f"the service at {self.service_url} was not ready after {self.config.ready_timeout:.0f}s "
            f"(last answer: {last})\n{child.log_tail()}"
        )

    # views for measurement -----------------------------------------------------------------------
    def service_processes(self) -> list[psutil.Process]:
        """The service process and its workers."""
        if self.service is None:
            return []
        root = self.service.psutil_process()
        return [root, *root.children(recursive=True)]

    def processes(self) -> dict[str, list[psutil.Process]]:
        """Every process of the stack by role, for the resource sampler."""
        out: dict[str, list[psutil.Process]] = {}
        for child in self.group.children:
            try:
                root = child.psutil_process()
                out[child.name] = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        return out

    def describe(self) -> dict[str, Any]:
        """Addresses and versions, for printing and for the results' environment."""
        return {
            "profile": self.profile,
            "service_url": self.service_url,
            "upstream_url": self.upstream_url,
            "postgres": redact_dsn(self.postgres_dsn),
            "redis": self.redis_url,
            "embedded": {"postgres": self.embedded_postgres is not None, "redis": self.embedded_redis is not None},
            "versions": dict(self.versions),
            "workers": self.config.workers,
        }


def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _fresh_dir(parent: Path) -> Path:
    """A new empty directory under `parent` (one per service start: no samples of an earlier service)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="start-", dir=parent))


def redact_dsn(dsn: str) -> str:
    """A DSN without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn


def _create_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
