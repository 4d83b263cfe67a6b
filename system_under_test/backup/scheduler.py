"""Scheduled backups inside the service: every `interval_s`, a backup, then (optionally) its restore
drill. The first backup runs one interval after start, so starting the service costs nothing. A failed
round is logged and counted in the metrics; the schedule goes on.

With several service processes (uvicorn workers) every process runs a scheduler, but only the one holding
the PostgreSQL advisory lock `locks.SCHEDULER_LOCK_ID` (the leader) takes backups; the others skip their
rounds and take over when the leader's session ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from system_under_test.backup.locks import LeaderLock
from system_under_test.backup.service import BackupService

log = logging.getLogger(__name__)


class BackupScheduler:
    """Runs `service.backup()` (and `service.verify()` when `verify`) every `interval_s` seconds."""

    def __init__(self, service: BackupService, interval_s: float, verify: bool = True) -> None:
        if interval_s <= 0:
            raise ValueError(f"backup interval must be positive seconds, got {interval_s}")
        self.service = service
        self.interval_s = interval_s
        self.verify = verify
        self.rounds = 0
        self.skipped = 0  # rounds left to the leader in another process
        self.leader = LeaderLock(service.config.dsn)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="backup-scheduler")

    async def run_once(self) -> bool:
        """One round: back up, then verify, if this process leads; failures are logged, not raised.
        Returns whether this process took the round."""
        try:
            if not await self.leader.try_lead():
                self.skipped += 1
                return False
            manifest = await self.service.backup()
            if self.verify:
                await self.service.verify(manifest.backup_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scheduled backup round failed")
        finally:
            self.rounds += 1
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.run_once()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.leader.release()
