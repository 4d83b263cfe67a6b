"""Admin API for backups: `/admin/backups` (start, list) and `/admin/backups/{id}/verify`.

Every endpoint needs `Authorization: Bearer <ATHBENCH_ADMIN_TOKEN>` (403 when no token is configured,
401 when it is missing or wrong) and answers 503 when backups are disabled (no ATHBENCH_BACKUP_DIR).
The app puts its `BackupService` (or None) in `app.state.backups`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from system_under_test.api.auth import require_admin
from system_under_test.backup.errors import BackupError, IntegrityError, VerificationError
from system_under_test.backup.manifest import Manifest
from system_under_test.backup.service import BackupService

router = APIRouter(prefix="/admin/backups", tags=["admin"], dependencies=[Depends(require_admin)])


def backup_service(request: Request) -> BackupService:
    """The app's backup service, or 503 when backups are disabled."""
    service: BackupService | None = getattr(request.app.state, "backups", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "backups are disabled: ATHBENCH_BACKUP_DIR is not set")
    return service


def summary(manifest: Manifest) -> dict[str, Any]:
    """A manifest without its per-table detail."""
    body = manifest.to_dict()
    body["tables"] = len(manifest.tables)
    body["verified"] = manifest.verified
    return body


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_backup(service: BackupService = Depends(backup_service)) -> dict[str, Any]:
    """Start a backup in the background; poll the list for its manifest."""
    return {"backup_id": service.start_backup(), "status": "running", "profile": service.config.profile}


@router.get("")
async def list_backups(service: BackupService = Depends(backup_service)) -> dict[str, Any]:
    """Complete backups (oldest first), running and failed ones, and the RPO status."""
    rpo = service.rpo()
    return {
        "backups": [summary(m) for m in service.list()],
        "running": sorted(service.running),
        "failed": service.failures,
        "rpo": {"status": rpo.status, "age_s": rpo.age_s, "target_s": rpo.target_s, "backup_id": rpo.backup_id},
    }


@router.post("/{backup_id}/verify")
async def verify_backup(backup_id: str, service: BackupService = Depends(backup_service)) -> dict[str, Any]:
    """Run the restore drill now and return the verified manifest; 409 when the backup fails it."""
    if not any(m.backup_id == backup_id for m in service.list()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no complete backup {backup_id!r}")
    try:
        manifest = await service.verify(backup_id)
    except (IntegrityError, VerificationError) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except FileNotFoundError as exc:  # retention deleted it between the listing above and the drill
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"backup {backup_id!r} was deleted while being verified: {exc.filename}"
        ) from exc
    except BackupError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from exc
    return summary(manifest)
