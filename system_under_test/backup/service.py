"""The service-side facade over backups: one object the admin API, the scheduler and `/health` share.

It owns the concurrency limit (a semaphore, optimized profile) and the token bucket (optimized profile,
shared by all backups of the process), records metrics, applies retention after each backup (waiting for
any running restore drill, see `locks.py`), runs restore drills one at a time, cleans up after
interrupted drills at start-up, and reports the RPO (age of the newest verified backup).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from system_under_test.backup import metrics
from system_under_test.backup.config import BackupConfig
from system_under_test.backup.dump import new_backup_id, run_backup
from system_under_test.backup.locks import drill_lock_exclusive
from system_under_test.backup.manifest import Manifest, list_backups, newest_verified
from system_under_test.backup.pgtools import database_of
from system_under_test.backup.restore import clean_leftovers, restore_drill
from system_under_test.backup.retention import apply_retention
from system_under_test.backup.throttle import TokenBucket

log = logging.getLogger(__name__)

#: The token bucket holds this many seconds of its rate: a backup is paced from its start (with a whole
#: second's worth, any dump under `rate` bytes, most of them at 100 MB/s, was never throttled at all).
BURST_S = 0.1


@dataclass(frozen=True)
class RpoStatus:
    """Age of the newest verified backup against the target; `status` is `pass` or `warn`."""

    status: str
    target_s: float
    age_s: float | None
    backup_id: str | None

    @property
    def detail(self) -> str:
        if self.backup_id is None:
            return "no verified backup yet"
        return f"newest verified backup {self.backup_id} is {self.age_s:.0f} s old (target {self.target_s:.0f} s)"


class BackupService:
    """Backups, restore drills, retention and RPO for the database in `config.dsn`."""

    def __init__(self, config: BackupConfig) -> None:
        self.config = config
        optimized = config.profile == "optimized"
        self._slots = asyncio.Semaphore(config.max_concurrent) if optimized else None
        rate = config.rate_bytes_s
        self._bucket = TokenBucket(rate, burst=rate * BURST_S) if optimized and rate > 0 else None
        self._drill_lock = asyncio.Lock()
        self.running: dict[str, asyncio.Task[Manifest]] = {}
        self.failures: dict[str, str] = {}
        self.completed = 0

    def start_backup(self) -> str:
        """Start a backup in the background; return its id at once."""
        backup_id = new_backup_id(database_of(self.config.dsn))
        task = asyncio.create_task(self.backup(backup_id), name=f"backup-{backup_id}")
        self.running[backup_id] = task
        task.add_done_callback(lambda done: self._finished(backup_id, done))
        return backup_id

    def _finished(self, backup_id: str, task: asyncio.Task[Manifest]) -> None:
        self.running.pop(backup_id, None)
        if not task.cancelled() and task.exception() is not None:
            self.failures[backup_id] = str(task.exception())

    async def backup(self, backup_id: str | None = None) -> Manifest:
        """Take one backup now (waiting for a free slot), record metrics, apply retention."""
        async with self._slots if self._slots is not None else contextlib.nullcontext():
            metrics.IN_PROGRESS.inc()
            try:
                manifest = await run_backup(
                    self.config.dsn,
                    self.config.backup_dir,
                    self.config.options,
                    bucket=self._bucket,
                    backup_id=backup_id,
                    pg_bin=self.config.pg_bin,
                )
            except BaseException:
                metrics.FAILURES.labels("backup").inc()
                raise
            finally:
                metrics.IN_PROGRESS.dec()
        self.completed += 1
        metrics.BACKUP_DURATION.labels(manifest.profile).observe(manifest.duration_s)
        metrics.BACKUP_BYTES.labels("compressed").inc(manifest.bytes_compressed)
        metrics.LAST_SIZE_BYTES.labels("compressed").set(manifest.bytes_compressed)
        if manifest.bytes_raw is not None:
            metrics.BACKUP_BYTES.labels("raw").inc(manifest.bytes_raw)
            metrics.LAST_SIZE_BYTES.labels("raw").set(manifest.bytes_raw)
        metrics.THROUGHPUT.set(manifest.throughput_mb_s)
        metrics.LAST_SUCCESS.set(manifest.finished.timestamp())
        await self.apply_retention()
        return manifest

    async def apply_retention(self) -> list[str]:
        """Retention, once no restore drill runs in any process (it may be reading a file retention deletes)."""
        async with drill_lock_exclusive(self.config.dsn, wait=True):
            deleted = await asyncio.to_thread(apply_retention, self.config.backup_dir, self.config.retention)
        if deleted:
            log.info("retention deleted backups %s", ", ".join(deleted))
        return deleted

    async def clean_leftovers(self) -> list[str] | None:
        """Start-up: drop scratch databases and partial files of interrupted drills (None: a drill runs)."""
        cleaned = await clean_leftovers(self.config.dsn, self.config.backup_dir)
        if cleaned:
            log.warning("removed leftovers of interrupted restore drills: %s", ", ".join(cleaned))
        return cleaned

    async def verify(self, backup_id: str) -> Manifest:
        """Run the restore drill of `backup_id` (one drill at a time); raises on a failed drill."""
        async with self._drill_lock:
            try:
                manifest = await restore_drill(
                    self.config.dsn,
                    self.config.backup_dir,
                    backup_id,
                    jobs=self.config.restore_jobs,
                    pg_bin=self.config.pg_bin,
                )
            except BaseException:
                metrics.FAILURES.labels("verify").inc()
                raise
        assert manifest.verification is not None
        metrics.RESTORE_DURATION.observe(manifest.verification.restore_duration_s)
        metrics.LAST_VERIFIED.set(datetime.fromisoformat(manifest.verification.verified_at).timestamp())
        return manifest

    def list(self) -> list[Manifest]:
        """Complete backups, oldest first."""
        return list_backups(self.config.backup_dir)

    def rpo(self, now: datetime | None = None) -> RpoStatus:
        """Age of the newest verified backup against the RPO target."""
        newest = newest_verified(self.list())
        if newest is None:
            return RpoStatus("warn", self.config.rpo_target_s, None, None)
        age = ((now or datetime.now(UTC)) - newest.finished).total_seconds()
        status = "pass" if age <= self.config.rpo_target_s else "warn"
        return RpoStatus(status, self.config.rpo_target_s, round(age, 1), newest.backup_id)

    async def close(self) -> None:
        """Cancel running backups (their temporary files are deleted) and wait for them."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
