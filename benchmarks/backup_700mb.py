"""Backup benchmark on a ~700 MB database: raw `pg_dump -Fc -Z0` vs the baseline and optimized backups.

A standalone script, not an asv benchmark and not a test:

    python benchmarks/backup_700mb.py                        # 3,000,000 properties (~700 MB database)
    python benchmarks/backup_700mb.py --properties 500000 --rounds 3

It starts a fresh embedded PostgreSQL in a temporary directory, seeds it with the service's generator,
then measures, in every round and in a rotating order (so no variant always runs first or last):

- `raw`: plain `pg_dump --format=custom --compress=0 -f FILE` (the raw limit: no compression, no Python);
- `baseline`: the baseline profile's backup (pg_dump's gzip, streamed to the file, manifest checksums);
- `optimized`: the optimized profile's backup (-Z0 + zstandard in Python, manifest checksums), with the
  token bucket at `--rate-mb-s` (0 = unthrottled).

Then it runs the restore drill of the last optimized backup (the measured RTO). It prints each duration,
size and the ratios against the goals (optimized time <= 1.15 x raw, compressed size <= 0.30 x raw), the
medians over rounds, and how much this process's RSS grew while each backup ran (the dump is streamed,
never held whole). `--json FILE` also writes everything as JSON. Everything started is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.postgres import EmbeddedPostgres, pg_bin_dir
from harness.processes import ProcessGroup
from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.pgtools import client_connection
from system_under_test.backup.restore import restore_drill
from system_under_test.backup.throttle import TokenBucket
from system_under_test.data.seed import seed

MB = 1_000_000
DATABASE = "athbench_backup_bench"
VARIANTS = ("raw", "baseline", "optimized")
GOAL_TIME_RATIO = 1.15  # issue 14's goals for the optimized backup
GOAL_SIZE_RATIO = 0.30


class PeakRss:
    """Samples this process's RSS every 20 ms in a thread; `stop()` returns the growth over the start, MB."""

    def __init__(self) -> None:
        self.start = self.peak = psutil.Process().memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, proc.memory_info().rss)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return (self.peak - self.start) / MB


async def raw_dump(dsn: str, target: Path) -> dict[str, Any]:
    dbname, env = client_connection(dsn)  # the password in the environment, never on the command line
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        str(pg_bin_dir() / "pg_dump"), "--format=custom", "--compress=0", "-f", str(target), f"--dbname={dbname}",
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    _, stderr = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({proc.returncode}): {stderr.decode().strip()}")
    duration = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    return {"duration_s": duration, "bytes": size}


async def backup(dsn: str, directory: Path, options: BackupOptions, rate_mb_s: float) -> dict[str, Any]:
    bucket = TokenBucket(rate_mb_s * MB) if rate_mb_s > 0 else None
    rss = PeakRss()
    try:
        manifest = await run_backup(dsn, directory, options, bucket=bucket)
    finally:
        peak = rss.stop()
    return {
        "backup_id": manifest.backup_id,
        "duration_s": manifest.duration_s,
        "dump_duration_s": manifest.dump_duration_s,
        "bytes": manifest.bytes_compressed,
        "bytes_raw": manifest.bytes_raw,
        "throttle_wait_s": manifest.throttle_wait_s,
        "rss_growth_mb": peak,
    }


def remove_backup(directory: Path, backup_id: str) -> None:
    for path in directory.glob(f"{backup_id}*"):
        path.unlink()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="athbench-backup-bench-", dir=args.work_dir))
    group = ProcessGroup(work / "logs")
    try:
        server = EmbeddedPostgres(work / "pgdata", group, settings={"fsync": "off"})
        server.start()
        conn = await asyncpg.connect(server.dsn)
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        await conn.close()
        dsn = server.dsn_for(DATABASE)
        print(f"seeding {args.properties:,} properties ...", flush=True)
        report = await seed(dsn, args.properties, seed=42)
        conn = await asyncpg.connect(dsn)
        db_bytes = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        await conn.close()
        print(f"seeded in {report.seconds:.1f} s; database size {db_bytes / MB:.0f} MB", flush=True)

        backups = work / "backups"
        options = {
            "baseline": BackupOptions(profile="baseline"),
            "optimized": BackupOptions(profile="optimized", zstd_level=args.zstd_level, zstd_threads=args.zstd_threads),
        }
        rounds: list[dict[str, Any]] = []
        last_optimized: str | None = None
        for index in range(args.rounds):
            order = VARIANTS[index % 3 :] + VARIANTS[: index % 3]
            row: dict[str, Any] = {"order": list(order)}
            for variant in order:
                if variant == "raw":
                    row["raw"] = await raw_dump(dsn, work / "raw.dump")
                else:
                    row[variant] = await backup(dsn, backups, options[variant], args.rate_mb_s)
                    if variant == "optimized":
                        if last_optimized is not None:
                            remove_backup(backups, last_optimized)
                        last_optimized = row[variant]["backup_id"]
                    else:
                        remove_backup(backups, row[variant]["backup_id"])
                print(f"round {index + 1} {variant:9s} {row[variant]['duration_s']:7.2f} s "
                      f"{row[variant]['bytes'] / MB:8.1f} MB", flush=True)  # fmt: skip
            rounds.append(row)

        assert last_optimized is not None
        drill = await restore_drill(dsn, backups, last_optimized, jobs=args.jobs)
        assert drill.verification is not None
        return summarize(args, db_bytes, report.seconds, rounds, drill.verification.__dict__)
    finally:
        group.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def summarize(
    args: argparse.Namespace, db_bytes: int, seed_s: float, rounds: list[dict[str, Any]], drill: dict[str, Any]
) -> dict[str, Any]:
    def median(variant: str, key: str) -> float:
        return statistics.median(r[variant][key] for r in rounds)

    raw_s, raw_bytes = median("raw", "duration_s"), median("raw", "bytes")
    result: dict[str, Any] = {
        "properties": args.properties,
        "database_mb": db_bytes / MB,
        "seed_s": seed_s,
        "rounds": rounds,
        "options": {"zstd_level": args.zstd_level, "zstd_threads": args.zstd_threads, "rate_mb_s": args.rate_mb_s},
        "raw": {"duration_s": raw_s, "mb": raw_bytes / MB},
        "restore_drill": drill,
    }
    for variant in ("baseline", "optimized"):
        paired = [r[variant]["duration_s"] / r["raw"]["duration_s"] for r in rounds]
        result[variant] = {
            "duration_s": median(variant, "duration_s"),
            "mb": median(variant, "bytes") / MB,
            "time_ratio": statistics.median(paired),  # paired within each round, then the median
            "size_ratio": median(variant, "bytes") / raw_bytes,
            "time_ratios_per_round": paired,
            "rss_growth_mb": max(r[variant]["rss_growth_mb"] for r in rounds),
        }
    return result


def render(result: dict[str, Any]) -> str:
    opt = result["optimized"]
    lines = [
        f"database: {result['properties']:,} properties, {result['database_mb']:.0f} MB "
        f"(pg_database_size), {len(result['rounds'])} round(s); medians (time/raw: median of per-round ratios):",
        f"  {'variant':10s} {'seconds':>8s} {'MB':>8s} {'time/raw':>9s} {'size/raw':>9s} {'RSS +MB':>8s}",
        f"  {'raw':10s} {result['raw']['duration_s']:8.2f} {result['raw']['mb']:8.1f} {1.0:9.2f} {1.0:9.3f}",
    ]
    for variant in ("baseline", "optimized"):
        v = result[variant]
        lines.append(
            f"  {variant:10s} {v['duration_s']:8.2f} {v['mb']:8.1f} {v['time_ratio']:9.2f} "
            f"{v['size_ratio']:9.3f} {v['rss_growth_mb']:8.1f}"
        )
    drill = result["restore_drill"]
    lines += [
        f"optimized options: {result['options']}",
        f"goal time <= {GOAL_TIME_RATIO} x raw: {opt['time_ratio']:.2f} "
        f"({'met' if opt['time_ratio'] <= GOAL_TIME_RATIO else 'MISSED'}); per round "
        + ", ".join(f"{r:.2f}" for r in opt["time_ratios_per_round"]),
        f"goal size <= {GOAL_SIZE_RATIO} x raw: {opt['size_ratio']:.3f} "
        f"({'met' if opt['size_ratio'] <= GOAL_SIZE_RATIO else 'MISSED'})",
        f"restore drill of the optimized backup: verified={drill['ok']}, restore (RTO) "
        f"{drill['restore_duration_s']:.2f} s with -j {drill['jobs']}, table check {drill['check_duration_s']:.2f} s",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--properties", type=int, default=3_000_000, help="properties to seed (~230 B/row)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of raw/baseline/optimized")
    parser.add_argument("--zstd-level", type=int, default=3)
    parser.add_argument("--zstd-threads", type=int, default=BackupOptions().zstd_threads)
    parser.add_argument("--rate-mb-s", type=float, default=0.0, help="optimized throttle, 0 = unthrottled")
    parser.add_argument("--jobs", type=int, default=2, help="pg_restore -j of the restore drill")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the temporary server lives")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.properties < 1 or args.rounds < 1:
        parser.error("--properties and --rounds must be at least 1")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    outcome = asyncio.run(main(arguments))
    print(render(outcome))
    if arguments.json is not None:
        arguments.json.write_text(json.dumps(outcome, indent=2))
