"""Backups inside the running service: the service object, the optional scheduler, the RPO health check.

`BackupRuntime.start(settings)` returns None when backups are disabled (no ATHBENCH_BACKUP_DIR); otherwise it
also starts, in the background, the clean-up of scratch databases and partial files left by interrupted
restore drills.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from system_under_test.backup.config import BackupConfig
from system_under_test.backup.scheduler import BackupScheduler
from system_under_test.backup.service import BackupService
from system_under_test.health.checks import CheckResult, now_iso
from system_under_test.settings import Settings

log = logging.getLogger(__name__)


def _log_cleanup_failure(task: asyncio.Task[list[str] | None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("start-up cleanup of interrupted restore drills failed: %s", task.exception())


@dataclass
class BackupRuntime:
    """What the app's lifespan starts and stops for backups."""

    service: BackupService
    scheduler: BackupScheduler | None
    cleanup: asyncio.Task[list[str] | None] | None = None

    @classmethod
    def start(cls, settings: Settings) -> BackupRuntime | None:
        """Build the backup service from `settings` and start the schedule when one is configured."""
        if settings.backup_dir is None:
            return None
        config = BackupConfig.from_env(
            dsn=settings.postgres_dsn,
            backup_dir=settings.backup_dir,
            profile=settings.profile,
            pg_bin=settings.pg_bin,
        )
        service = BackupService(config)
        cleanup = asyncio.create_task(service.clean_leftovers(), name="backup-cleanup")
        cleanup.add_done_callback(_log_cleanup_failure)
        scheduler = None
        if config.interval_s > 0:
            scheduler = BackupScheduler(service, config.interval_s, verify=config.verify_scheduled)
            scheduler.start()
        return cls(service, scheduler, cleanup)

    async def rpo_check(self) -> list[CheckResult]:
        """`backup:rpo` for `/health`: age of the newest verified backup; warn past the target."""
        rpo = await asyncio.to_thread(self.service.rpo)
        return [CheckResult("backup:rpo", "component", rpo.status, rpo.age_s, "s", now_iso(), rpo.detail)]

    async def stop(self) -> None:
        """Stop the schedule and cancel running backups (their temporary files are removed)."""
        if self.cleanup is not None and not self.cleanup.done():
            self.cleanup.cancel()
            await asyncio.gather(self.cleanup, return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.service.close()
