"""Load phases against the real service (test knobs on), in real Locust processes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from harness.affinity import AffinityPlan
from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.recorder import decode
from harness.load.runner import run_load
from harness.stack import Stack, StackConfig
from tests.load_support import kept_up

PING = Endpoint("/_test/ping", name="ping")
LIVE = Endpoint("/health/live", name="live")  # the knobs apply to it; it touches no dependency


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, embedded_postgres: object, redis_url: str) -> Iterator[str]:
    """The real service (test knobs on) over its own database on the session's PostgreSQL."""
    admin_dsn = embedded_postgres.dsn  # type: ignore[attr-defined]
    name = f"t_load_{uuid.uuid4().hex[:8]}"
    asyncio.run(_sql(admin_dsn, f'CREATE DATABASE "{name}"'))
    config = StackConfig(
        run_dir=tmp_path_factory.mktemp("load-stack"),
        postgres_dsn=embedded_postgres.dsn_for(name),  # type: ignore[attr-defined]
        redis_url=redis_url,
        seed_properties=50,
        test_knobs=True,
        upstream=False,
    )
    with Stack(config) as stack:
        yield stack.service_url
    try:
        asyncio.run(_sql(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):  # one retry: the server is shared and busy
        time.sleep(1.0)
        asyncio.run(_sql(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _sql(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def set_knobs(url: str, **knobs: float | None) -> None:
    httpx.put(f"{url}/_test/knobs", json=knobs, timeout=5).raise_for_status()


@pytest.fixture
def knobs_reset(service: str) -> Iterator[str]:
    set_knobs(service)
    yield service
    set_knobs(service)


def test_closed_run_against_the_service(knobs_reset: str, tmp_path: Path) -> None:
    # a closed model sends as fast as the service answers: against a bare ping on a quiet 2-core machine
    # the generator would saturate its core (and rightly be marked invalid), so the service takes 5 ms
    # (the knobs never slow /_test/ paths, so this measures /health/live)
    service = knobs_reset
    set_knobs(service, delay_ms=5)
    # a credential header is sent but not kept: the spec left in the run directory has it redacted
    live = Endpoint(LIVE.path, name=LIVE.name, headers={"Authorization": "Bearer s3cr3t-token"})
    result = kept_up(
        lambda: run_load(
            service, ClosedPlan(users=4, duration_s=2.0), endpoints=[live], warmup_s=0.5, work_dir=tmp_path
        )
    )
    assert result.model == "closed"
    assert result.valid, result.invalid_reason
    ping = result.endpoints["live"]
    assert ping.count == result.overall.count > 50
    assert ping.uncorrected["p50_ms"] >= 5.0  # the injected delay is in every request
    assert ping.error_count == 0
    assert ping.corrected is None and ping.uncorrected is not None
    assert 0 < ping.uncorrected["p50_ms"] <= ping.uncorrected["p99_ms"] <= ping.uncorrected["max_ms"]
    assert ping.latency_ms("p95") == ping.uncorrected["p95_ms"]
    assert decode(ping.histograms["uncorrected"]).get_total_count() == ping.count
    assert result.overall.throughput_rps == pytest.approx(result.overall.count / 2.0)
    assert sum(result.timeseries["throughput_rps"]["v"]) == result.overall.count
    assert (tmp_path / "load-raw.json").exists() and (tmp_path / "load.log").exists()
    spec = (tmp_path / "load-spec.json").read_text()
    assert "s3cr3t-token" not in spec and '"Authorization": "<redacted>"' in spec
    assert (tmp_path / "load-spec.json").stat().st_mode & 0o077 == 0


def test_open_run_keeps_its_schedule(service: str) -> None:
    result = kept_up(lambda: run_load(service, OpenPlan.constant(100, 2.0, users=10), endpoints=[PING], warmup_s=0.5))
    assert result.valid, result.invalid_reason
    assert result.validity["scheduled"] == 200
    assert result.validity["unsent"] == 0
    assert result.overall.count == 200
    assert result.overall.throughput_rps == pytest.approx(100, rel=0.01)
    corrected, uncorrected = result.overall.corrected, result.overall.uncorrected
    assert corrected is not None and uncorrected is not None
    assert corrected["p50_ms"] >= uncorrected["p50_ms"]  # measured from an earlier instant
    assert result.validity["schedule_lag_ms"]["p50_ms"] < 50
    assert result.validity["limited_by"] is None
    assert len(result.timeseries["latency_p95_ms"]["v"]) >= 2


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_generator_pinning_is_applied_and_recorded(service: str) -> None:
    generator_cpus = AffinityPlan.split(generator_cpus=1).generator
    assert generator_cpus is not None
    result = run_load(
        service, ClosedPlan(users=2, duration_s=0.5), endpoints=[PING], warmup_s=0, cpu_affinity=generator_cpus
    )
    assert result.processes[0]["cpu_affinity"] == list(generator_cpus)
    with pytest.raises(ValueError, match="not within the available CPUs"):
        run_load(service, ClosedPlan(users=1, duration_s=0.5), endpoints=[PING], cpu_affinity=[10_000])


def test_fixed_delay_appears_in_p50(knobs_reset: str) -> None:
    url = knobs_reset
    plan = OpenPlan.constant(40, 2.0, users=10)
    base = kept_up(lambda: run_load(url, plan, endpoints=[LIVE], warmup_s=0.5))
    set_knobs(url, delay_ms=20)
    delayed = kept_up(lambda: run_load(url, plan, endpoints=[LIVE], warmup_s=0.5))
    assert base.valid and delayed.valid, (base.invalid_reason, delayed.invalid_reason)
    added = delayed.overall.uncorrected["p50_ms"] - base.overall.uncorrected["p50_ms"]  # type: ignore[index]
    assert added == pytest.approx(20.0, abs=6.0)
    assert delayed.overall.latency_ms("p50") == pytest.approx(base.overall.latency_ms("p50") + 20.0, abs=6.0)


def test_two_workers_merge_to_the_single_process_counts(service: str) -> None:
    plan = OpenPlan.constant(150, 2.0, users=10)
    single = kept_up(lambda: run_load(service, plan, endpoints=[PING], warmup_s=0.5))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    double = kept_up(lambda: run_load(service, plan, endpoints=[PING], warmup_s=0.5, workers=2))
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before  # master and workers are gone
    assert single.valid and double.valid, (single.invalid_reason, double.invalid_reason)
    assert [p["role"] for p in double.processes] == ["worker", "worker"]
    recorded = [p["recorded"] for p in double.processes]
    assert recorded == [150, 150]  # each worker carried half of the schedule
    assert double.overall.count == sum(recorded) == single.overall.count == 300
    assert decode(double.overall.histograms["corrected"]).get_total_count() == 300
    assert double.validity["scheduled"] == single.validity["scheduled"] == 300


def test_worker_count_defaults_to_the_environment(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATHBENCH_LOAD_WORKERS", "2")  # what `athbench assess --load-workers 2` sets
    result = run_load(service, ClosedPlan(users=2, duration_s=1.0), endpoints=[PING], warmup_s=0.2)
    assert result.workers == 2
    assert [p["role"] for p in result.processes] == ["worker", "worker"]
    monkeypatch.setenv("ATHBENCH_LOAD_WORKERS", "two")
    with pytest.raises(ValueError, match="ATHBENCH_LOAD_WORKERS must be a whole number"):
        run_load(service, ClosedPlan(users=2, duration_s=1.0), endpoints=[PING])


def test_tiny_user_pool_is_invalid(knobs_reset: str) -> None:
    set_knobs(knobs_reset, delay_ms=20)  # one user can carry at most ~50 req/s
    # no warm-up: its backlog alone would use up the window on a busy machine, leaving no send to time
    result = run_load(knobs_reset, OpenPlan.constant(200, 2.0, users=1), endpoints=[LIVE], warmup_s=0)
    assert not result.valid
    assert "behind schedule" in (result.invalid_reason or "")
    assert "never sent" in (result.invalid_reason or "")
    assert result.validity["unsent_fraction"] > 0.5
    assert result.validity["limited_by"] == "backlog"
    assert result.lower_bound and result.overall.lower_bound
    assert result.overall.unsent == result.validity["unsent"]
    assert result.overall.latency_ms("p50") > 500  # the unsent waited at least the drain (5 s)


def test_impossible_rate_is_invalid(service: str) -> None:
    result = run_load(service, OpenPlan.constant(20_000, 2.0, users=200), endpoints=[PING], warmup_s=0.5)
    assert not result.valid
    assert result.validity["unsent"] > 0
    assert result.invalid_reason and result.validity["limited_by"] in ("generator", "backlog")


def test_error_kinds_are_counted(service: str) -> None:
    missing = Endpoint("/no/such/path", name="missing")
    result = run_load(service, ClosedPlan(users=2, duration_s=1.0), endpoints=[missing, PING], warmup_s=0.2)
    assert result.endpoints["missing"].errors == {"http_4xx": result.endpoints["missing"].count}
    assert result.endpoints["ping"].error_count == 0
    refused_url = f"http://127.0.0.1:{unused_port()}"
    refused = run_load(refused_url, ClosedPlan(users=1, duration_s=1.0), endpoints=[PING], warmup_s=0)
    assert refused.overall.count > 0
    assert refused.overall.errors == {"connection_error": refused.overall.count}
    assert refused.overall.uncorrected is None


def test_locustfile_closed_run(knobs_reset: str, tmp_path: Path) -> None:
    service = knobs_reset
    set_knobs(service, delay_ms=5)  # keeps the closed-model generator off its CPU limit (see above)
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(
        "from locust import FastHttpUser, task\n\n"
        "class Pinger(FastHttpUser):\n"
        "    @task\n"
        "    def ping(self):\n"
        "        self.client.get('/health/live', name='lf-ping')\n"
    )
    result = kept_up(
        lambda: run_load(service, ClosedPlan(users=2, duration_s=1.0), locustfile=locustfile, warmup_s=0.2)
    )
    assert result.valid, result.invalid_reason
    assert list(result.endpoints) == ["lf-ping"] and result.overall.count > 20


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="target_url"):
        run_load("127.0.0.1:80", ClosedPlan(users=1, duration_s=1), endpoints=[PING])
    with pytest.raises(ValueError, match="exactly one"):
        run_load("http://127.0.0.1:9", ClosedPlan(users=1, duration_s=1))
    with pytest.raises(ValueError, match="closed model only"):
        run_load("http://127.0.0.1:9", OpenPlan.constant(1, 1), locustfile="x.py")
    with pytest.raises(ValueError, match="workers"):
        run_load("http://127.0.0.1:9", ClosedPlan(users=1, duration_s=1), endpoints=[PING], workers=2)


def unused_port() -> int:
    """A port nothing listens on (bound, then closed), so connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_timeouts_are_counted(knobs_reset: str) -> None:
    set_knobs(knobs_reset, delay_ms=600)
    result = run_load(
        knobs_reset, ClosedPlan(users=2, duration_s=1.0), endpoints=[LIVE], warmup_s=0, request_timeout_s=0.2
    )
    assert result.overall.count >= 2
    assert result.overall.errors == {"timeout": result.overall.count}


def test_stepped_rate_shows_in_the_time_series(service: str) -> None:
    plan = OpenPlan.stepped([(50, 1.0), (150, 1.0)], users=10)
    result = kept_up(lambda: run_load(service, plan, endpoints=[PING], warmup_s=0.5))
    assert result.valid, result.invalid_reason
    assert result.overall.count == 200
    per_second = dict(
        zip(result.timeseries["throughput_rps"]["t"], result.timeseries["throughput_rps"]["v"], strict=True)
    )
    assert per_second[0] == pytest.approx(50, abs=8)  # completions, counted by the second they finished in
    assert per_second[1] == pytest.approx(150, abs=8)
