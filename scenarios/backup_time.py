"""backup_time: the service's backup against a raw `pg_dump` in the same run, its restore, its cost to traffic.

Each repetition, on the same database:

1. The raw reference: `pg_dump --format=custom --compress=0` to a scratch file, timed here; its size is
   the raw dump size both profiles' backups are compared with (the baseline's gzip gives no raw size).
2. Live traffic: energy-assessment reads at `live_rate_rps` (open model, `harness.probe`, each latency
   timed from its scheduled start) over a hot set of `live_keys` properties read once beforehand, so
   the traffic is steady (cache hits: the backup's cost shows as CPU and event-loop contention in the
   service). After `live_s` of it (the reference window) a backup is started through the admin API
   (`POST /admin/backups`, so it runs inside the service process like in production) and polled until
   its manifest appears; the p95 of the reads *scheduled while it ran* is compared with the reference.
3. The restore drill through the admin API (`POST /admin/backups/{id}/verify`): restore into a
   scratch database and compare every table's row count and checksum with the manifest.

Metrics: `backup_duration_s` (the manifest's, until fsync), `raw_dump_duration_s`, `backup_time_ratio`
(backup / raw dump), `compression_ratio` (backup file bytes / raw dump bytes), `backup_throughput_mb_s`
(raw dump MB, 10^6 bytes, per second of backup), `restore_duration_s` (RTO: restore + verification,
as the drill measured them), `restore_verified` (1 when every table matched), `live_p95_backup_ratio`.

`database_properties` > 0 backs up a separate database seeded with that many properties (created once
on the same server and reused, the service restarted onto it, athbench's Redis flushed afterwards);
0 uses the stack's own database.
Details: every manifest summary, sample counts of the live windows, the raw dump's bytes.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from harness.postgres import pg_bin_dir
from harness.probe import Probe, latency_percentile_ms, open_stream, replay, send_lag_ms
from harness.results import Metric, ScenarioResult
from harness.stack import Stack
from scenarios._support import ASSESSMENT_PATH, mark_invalid, property_ids
from scenarios.base import Scenario, ScenarioContext, ScenarioError
from system_under_test.backup.pgtools import with_database

MB = 1_000_000
MIN_WINDOW_SAMPLES = 20

DEFAULTS: dict[str, Any] = {
    "repetitions": 1,
    "database_properties": 0,  # 0: the stack's database
    "live_rate_rps": 50.0,
    "live_s": 4.0,
    "live_keys": 200,
    "backup_timeout_s": 600.0,
    "lag_tolerance_ms": 100.0,
    "seed": 11,
}


def _sized_database(stack: Stack, properties: int) -> str:
    """The DSN of a database holding `properties` seeded properties, created and seeded if needed."""
    from system_under_test.data.seed import seed

    name = f"athbench_backup_{properties}"

    async def prepare() -> str:
        admin = await asyncpg.connect(stack.postgres_dsn)
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        dsn = with_database(stack.postgres_dsn, name)
        conn = await asyncpg.connect(dsn)
        try:
            present = 0
            if await conn.fetchval("SELECT to_regclass('properties') IS NOT NULL"):
                present = await conn.fetchval("SELECT count(*) FROM properties")
        finally:
            await conn.close()
        if present != properties:
            await seed(dsn, properties)
        return dsn

    return asyncio.run(prepare())


def _forget_cached(stack: Stack) -> None:
    """Flush athbench's own Redis: values cached from the sized database must not leak into later runs."""
    if stack.embedded_redis is not None:
        client = redis.Redis.from_url(stack.redis_url, socket_timeout=5.0)
        try:
            client.flushdb()
        finally:
            client.close()


def _raw_dump(dsn: str) -> tuple[float, int]:
    """(seconds, bytes) of `pg_dump -Fc -Z0` of `dsn` to a scratch file."""
    with tempfile.TemporaryDirectory(prefix="athbench-rawdump-") as tmp:
        target = Path(tmp) / "raw.dump"
        argv = [str(pg_bin_dir() / "pg_dump"), "--format=custom", "--compress=0", f"--file={target}", dsn]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            raise ScenarioError(f"raw pg_dump failed (exit {done.returncode}): {done.stderr.strip()[:500]}")
        return seconds, target.stat().st_size


class _Traffic:
    """Open-model energy-assessment reads of a pre-warmed hot set, in a background thread until stopped."""

    def __init__(self, base_url: str, ids: list[int], rate_rps: float, max_s: float) -> None:
        self.probes: list[Probe] = []
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.streaming = threading.Event()

        def path_for(i: int) -> str:
            return ASSESSMENT_PATH.format(id=ids[(i * 7919) % len(ids)])

        async def go() -> list[Probe]:
            await replay(base_url, [ASSESSMENT_PATH.format(id=i) for i in ids], concurrency=2)  # warm the caches
            self.streaming.set()
            return await open_stream(base_url, path_for, rate_rps=rate_rps, duration_s=max_s, stop=self._stop)

        self._thread = threading.Thread(target=lambda: self.probes.extend(self._loop.run_until_complete(go())))

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60.0)
        self._loop.close()


def _admin(ctx: ScenarioContext) -> httpx.Client:
    token = ctx.require_stack().admin_token
    return httpx.Client(base_url=ctx.target_url, headers={"Authorization": f"Bearer {token}"}, timeout=600.0)


def _backup(client: httpx.Client, timeout_s: float) -> tuple[dict[str, Any], float, float]:
    """Start a backup through the admin API; wait for its manifest. (summary, started, done) monotonic."""
    started = time.monotonic()
    response = client.post("/admin/backups")
    if response.status_code != 202:
        raise ScenarioError(f"POST /admin/backups answered {response.status_code}: {response.text[:300]}")
    backup_id = response.json()["backup_id"]
    while time.monotonic() - started < timeout_s:
        listing = client.get("/admin/backups").json()
        if backup_id in listing.get("failed", {}):
            raise ScenarioError(f"backup {backup_id} failed: {listing['failed'][backup_id]}")
        for summary in listing.get("backups", []):
            if summary["backup_id"] == backup_id and backup_id not in listing.get("running", []):
                return summary, started, time.monotonic()
        time.sleep(0.05)
    raise ScenarioError(f"backup {backup_id} did not finish within {timeout_s:g} s")


def _verify(client: httpx.Client, backup_id: str, errors: list[str]) -> tuple[bool, float, dict[str, Any]]:
    """(verified, restore + check seconds, verification record) of the restore drill.

    A 409 is a drill that ran and found differences (not verified). Any other error answer is the drill
    failing to run; it is retried once and the error kept in `errors`.
    """
    for _attempt in range(2):
        response = client.post(f"/admin/backups/{backup_id}/verify")
        if response.status_code == 409:
            return False, float("nan"), {"ok": False, "reason": response.json().get("detail")}
        if response.status_code == 200:
            verification = response.json()["verification"]
            seconds = verification["restore_duration_s"] + verification["check_duration_s"]
            return bool(verification["ok"]), seconds, verification
        errors.append(f"verify of {backup_id} answered {response.status_code}: {response.text[:300]}")
    raise ScenarioError(f"the restore drill could not run: {'; '.join(errors[-2:])}")


def _repetition(ctx: ScenarioContext, params: dict[str, Any], dsn: str, ids: list[int]) -> dict[str, Any]:
    raw_s, raw_bytes = _raw_dump(dsn)
    hot = random.Random(params["seed"]).sample(ids, min(params["live_keys"], len(ids)))
    with _admin(ctx) as client:
        with _Traffic(ctx.target_url, hot, params["live_rate_rps"], params["backup_timeout_s"] + 60.0) as traffic:
            if not traffic.streaming.wait(timeout=120.0):
                raise ScenarioError("warming the live traffic's hot set took more than 120 s")
            quiet_from = time.monotonic()
            time.sleep(params["live_s"])
            summary, started, done = _backup(client, params["backup_timeout_s"])
            time.sleep(0.2)
        verify_errors: list[str] = []
        verified, restore_s, verification = _verify(client, summary["backup_id"], verify_errors)
    quiet = [p for p in traffic.probes if quiet_from <= p.scheduled < started]
    during = [p for p in traffic.probes if started <= p.scheduled <= done]
    return {
        "raw_dump_s": raw_s,
        "raw_bytes": raw_bytes,
        "backup": summary,
        "verified": verified,
        "restore_s": restore_s,
        "verification": verification,
        "verify_errors": verify_errors,
        "p95_quiet_ms": latency_percentile_ms(quiet, 95),
        "p95_during_ms": latency_percentile_ms(during, 95),
        "samples_quiet": len(quiet),
        "samples_during": len(during),
        "failed_during": sum(1 for p in during if p.status != 200),
        "send_lag_p50_ms": send_lag_ms(traffic.probes, 50),
    }


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    stack = ctx.require_stack()
    dsn = stack.postgres_dsn
    if params["database_properties"] > 0:
        dsn = _sized_database(stack, params["database_properties"])
        ctx.restart_service({"ATHBENCH_POSTGRES_DSN": dsn})
    try:
        ids = property_ids(dsn)
        reps = [_repetition(ctx, params, dsn, ids) for _ in range(params["repetitions"])]
    finally:
        if dsn != stack.postgres_dsn:
            _forget_cached(stack)
    samples: dict[str, list[float]] = {}

    def add(name: str, value: float | None) -> None:
        if value is not None:
            samples.setdefault(name, []).append(value)

    for rep in reps:
        backup_s = float(rep["backup"]["duration_s"])
        add("backup_duration_s", backup_s)
        add("raw_dump_duration_s", rep["raw_dump_s"])
        add("backup_time_ratio", backup_s / rep["raw_dump_s"])
        add("compression_ratio", rep["backup"]["bytes_compressed"] / rep["raw_bytes"])
        add("backup_throughput_mb_s", rep["raw_bytes"] / MB / backup_s)
        add("restore_duration_s", rep["restore_s"] if rep["verified"] else None)
        add("restore_verified", 1.0 if rep["verified"] else 0.0)
        if rep["p95_quiet_ms"] and rep["p95_during_ms"] is not None:
            add("live_p95_backup_ratio", rep["p95_during_ms"] / rep["p95_quiet_ms"])
    units = {
        "backup_duration_s": ("s", "lower"),
        "raw_dump_duration_s": ("s", "none"),
        "backup_time_ratio": ("ratio", "lower"),
        "compression_ratio": ("ratio", "lower"),
        "backup_throughput_mb_s": ("MB/s", "higher"),
        "restore_duration_s": ("s", "lower"),
        "restore_verified": ("bool", "higher"),
        "live_p95_backup_ratio": ("ratio", "lower"),
    }
    for name, values in samples.items():
        unit, better = units[name]
        result.metrics[name] = Metric.from_samples(values, unit=unit, better=better)
    worst_lag = max(r["send_lag_p50_ms"] for r in reps)
    if worst_lag > params["lag_tolerance_ms"]:
        mark_invalid(result, f"traffic generator fell behind: requests sent {worst_lag:.0f} ms late at the median")
    few = [r["samples_during"] for r in reps if r["samples_during"] < MIN_WINDOW_SAMPLES]
    result.details.update(
        {
            "database": dsn.rsplit("/", 1)[-1],
            "properties": len(ids),
            "raw_reference": "pg_dump --format=custom --compress=0, same database, same run",
            "live_endpoint": ASSESSMENT_PATH,
            "few_samples_during_backup": few,
            "repetitions": reps,
        }
    )


SCENARIO = Scenario(
    name="backup_time",
    description="Backup vs raw pg_dump in the same run, verified restore (RTO), live p95 during backup",
    run=run,
    defaults=DEFAULTS,
    area="backup",
)
