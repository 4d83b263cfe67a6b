"""The JSON manifest written beside every backup file, and the catalogue of a backup directory.

A backup `<id>` is the data file `<id>.dump` (baseline, pg_dump's gzip) or `<id>.dump.zst` (optimized,
uncompressed dump compressed with zstandard) plus `<id>.manifest.json`. A backup counts as complete only
when both exist; both are written under temporary names and renamed when finished.

`bytes_raw` is the uncompressed dump size (unknown, None, for the baseline, whose pg_dump compresses
internally); `bytes_compressed` is the file size; `throughput_mb_s` is pg_dump's output in MB (10^6 bytes)
per second of the whole backup; `dump_duration_s` ends when pg_dump and the checksums are done,
`duration_s` when the file is fsynced.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from system_under_test.backup.checksums import TableState
from system_under_test.backup.errors import BackupError
from system_under_test.backup.files import write_atomic

FORMAT = "athbench.backup-manifest"
FORMAT_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"

log = logging.getLogger(__name__)


@dataclass
class Verification:
    """The outcome of a restore drill."""

    verified_at: str
    ok: bool
    restore_duration_s: float | None  # None when the file was rejected or the restore failed
    check_duration_s: float | None
    jobs: int
    reason: str | None = None


@dataclass
class Manifest:
    """Everything needed to trust, restore and check one backup."""

    backup_id: str
    profile: str
    file: str
    database: str
    server_version: str
    started_at: str
    finished_at: str
    duration_s: float
    dump_duration_s: float
    bytes_raw: int | None
    bytes_compressed: int
    throughput_mb_s: float
    sha256: str
    compression: dict[str, Any]
    checksum_algorithm: str
    tables: dict[str, TableState]
    throttle_wait_s: float = 0.0
    verification: Verification | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """True when a restore drill restored this backup and every table matched."""
        return self.verification is not None and self.verification.ok

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"not a version-{FORMAT_VERSION} {FORMAT}: format={data.get('format')!r} "
                f"version={data.get('format_version')!r}"
            )
        values = dict(data)
        values["tables"] = {name: TableState(**state) for name, state in data["tables"].items()}
        if data.get("verification") is not None:
            values["verification"] = Verification(**data["verification"])
        return cls(**values)

    def save(self, directory: Path) -> Path:
        """Write (or atomically replace) this manifest in `directory`."""
        path = manifest_path(directory, self.backup_id)
        write_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True).encode())
        return path


_BACKUP_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")


def manifest_path(directory: Path, backup_id: str) -> Path:
    """Where backup `backup_id`'s manifest lives; the id must be a plain name (no path separators)."""
    if not _BACKUP_ID.fullmatch(backup_id):
        raise BackupError(f"invalid backup id {backup_id!r}: use letters, digits, '_', '.', '-'")
    return directory / f"{backup_id}{MANIFEST_SUFFIX}"


def load_manifest(directory: Path, backup_id: str) -> Manifest:
    """The manifest of backup `backup_id`, or a BackupError naming what is missing or unreadable."""
    path = manifest_path(directory, backup_id)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"no backup {backup_id!r} in {directory} (missing {path.name})") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"manifest {path} is unreadable: {exc}") from exc
    try:
        return Manifest.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise BackupError(f"manifest {path} is malformed: {exc}") from exc


def list_backups(directory: Path) -> list[Manifest]:
    """Complete backups in `directory` (manifest and data file present), oldest first."""
    if not directory.is_dir():
        return []
    found: list[Manifest] = []
    for path in directory.glob(f"*{MANIFEST_SUFFIX}"):
        backup_id = path.name.removesuffix(MANIFEST_SUFFIX)
        try:
            manifest = load_manifest(directory, backup_id)
        except BackupError as exc:
            log.warning("skipping backup %s: %s", backup_id, exc)
            continue
        if (directory / manifest.file).exists():
            found.append(manifest)
    found.sort(key=lambda m: (m.finished_at, m.backup_id))
    return found


def newest_verified(manifests: list[Manifest]) -> Manifest | None:
    """The most recently finished backup whose restore drill succeeded."""
    verified = [m for m in manifests if m.verified]
    return max(verified, key=lambda m: (m.finished_at, m.backup_id)) if verified else None
