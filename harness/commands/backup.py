"""`athbench backup run | list | verify | restore`: backups of a PostgreSQL database, outside the service.

Works directly against the database a DSN names (`--postgres-dsn` / ATHBENCH_POSTGRES_DSN) and a backup
directory (`--backup-dir` / ATHBENCH_BACKUP_DIR), with the same code the service uses. Backups, restore
drills and restores show their progress (`harness.progress`): elapsed time, and the time left from the
last backup of the same profile in that directory (its duration, its drill's restore and check).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from harness.progress import show_progress, timed
from system_under_test.backup.dump import BackupOptions, run_backup
from system_under_test.backup.errors import BackupError
from system_under_test.backup.manifest import Manifest, list_backups
from system_under_test.backup.restore import restore_backup, restore_drill
from system_under_test.backup.retention import RetentionPolicy, apply_retention
from system_under_test.backup.throttle import TokenBucket

app = typer.Typer(help="Take, list, verify and restore backups.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

Dsn = Annotated[
    str, typer.Option("--postgres-dsn", help="postgresql:// DSN of the database.", envvar="ATHBENCH_POSTGRES_DSN")
]
BackupDir = Annotated[
    Path, typer.Option("--backup-dir", help="Directory holding the backups.", envvar="ATHBENCH_BACKUP_DIR")
]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="pg_restore parallel jobs.")]


def _run(coro: Coroutine[Any, Any, T], step: str, expected_s: float | None = None) -> T:
    """Run `coro` showing `step`'s progress; a BackupError becomes a red message and exit code 1."""
    try:
        with show_progress(console), timed(step, step, expected_s):
            return asyncio.run(coro)
    except BackupError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _last(backup_dir: Path, profile: str | None = None) -> Manifest | None:
    """The newest complete backup in `backup_dir` (of `profile` when given): what the next one may take."""
    manifests = [m for m in list_backups(backup_dir) if profile is None or m.profile == profile]
    return manifests[-1] if manifests else None


def _drill_seconds(backup_dir: Path, *, check: bool) -> float | None:
    """Restore (plus check) time of the newest verified backup's drill; None when none was drilled."""
    drills = [m.verification for m in list_backups(backup_dir) if m.verification and m.verification.ok]
    last = drills[-1] if drills else None
    if last is None or last.restore_duration_s is None:
        return None
    return last.restore_duration_s + ((last.check_duration_s or 0.0) if check else 0.0)


def _describe(manifest: Manifest) -> str:
    raw = f"{manifest.bytes_raw / 1e6:.1f} MB raw -> " if manifest.bytes_raw is not None else ""
    return (
        f"{manifest.backup_id}: {manifest.profile}, {manifest.duration_s:.2f} s, "
        f"{raw}{manifest.bytes_compressed / 1e6:.1f} MB, {len(manifest.tables)} tables, sha256 {manifest.sha256[:12]}"
    )


@app.command()
def run(
    postgres_dsn: Dsn,
    backup_dir: BackupDir,
    profile: str = typer.Option("optimized", help="baseline (pg_dump gzip) or optimized (-Z0 + zstd)."),
    zstd_level: int = typer.Option(3, min=1, max=22, help="optimized: zstd level."),
    zstd_threads: int = typer.Option(-1, min=-1, help="optimized: zstd threads (-1 = all CPUs, 0 = none)."),
    rate_mb_s: float = typer.Option(0.0, min=0.0, help="optimized: throttle raw dump MB/s (0 = unlimited)."),
    verify: bool = typer.Option(False, help="Run the restore drill right after the backup."),
    keep: int = typer.Option(0, min=0, help="Then apply retention keeping this many (0 = no retention)."),
) -> None:
    """Take one backup and write its manifest."""
    try:
        options = BackupOptions(profile=profile, zstd_level=zstd_level, zstd_threads=zstd_threads)  # type: ignore[arg-type]
    except BackupError as exc:
        raise typer.BadParameter(str(exc)) from None
    bucket = TokenBucket(rate_mb_s * 1e6) if rate_mb_s > 0 else None
    previous = _last(backup_dir, profile)
    expected = previous.duration_s if previous is not None else None
    manifest = _run(run_backup(postgres_dsn, backup_dir, options, bucket=bucket), "backup", expected)
    console.print(f"[green]backup written[/green] {_describe(manifest)}")
    if verify:
        _verify(postgres_dsn, backup_dir, manifest.backup_id, jobs=2)
    if keep:
        policy = RetentionPolicy(keep_count=keep)
        for backup_id in apply_retention(backup_dir, policy):
            console.print(f"retention deleted {backup_id}")


@app.command("list")
def list_command(
    backup_dir: BackupDir,
    as_json: bool = typer.Option(False, "--json", help="Print the manifests as JSON."),
) -> None:
    """List complete backups, oldest first."""
    manifests = list_backups(backup_dir)
    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in manifests], indent=2))
        return
    table = Table("backup id", "profile", "finished", "seconds", "MB", "tables", "verified", "RTO s")
    for m in manifests:
        rto = m.verification.restore_duration_s if m.verification else None
        rto_text = f"{rto:.2f}" if rto is not None else ""
        verified = "yes" if m.verified else ("FAILED" if m.verification else "no")
        table.add_row(
            m.backup_id, m.profile, m.finished_at[:19], f"{m.duration_s:.2f}",
            f"{m.bytes_compressed / 1e6:.1f}", str(len(m.tables)), verified, rto_text,
        )  # fmt: skip
    console.print(table)


def _verify(dsn: str, backup_dir: Path, backup_id: str, jobs: int) -> None:
    manifest = _run(
        restore_drill(dsn, backup_dir, backup_id, jobs=jobs), "restore drill", _drill_seconds(backup_dir, check=True)
    )
    assert manifest.verification is not None
    console.print(
        f"[green]verified[/green] {backup_id}: {len(manifest.tables)} tables match; "
        f"restore {manifest.verification.restore_duration_s:.2f} s (RTO), "
        f"check {manifest.verification.check_duration_s:.2f} s"
    )


@app.command()
def verify(postgres_dsn: Dsn, backup_dir: BackupDir, backup_id: str, jobs: Jobs = 2) -> None:
    """Restore drill: check the SHA-256, restore into a scratch database, compare every table."""
    _verify(postgres_dsn, backup_dir, backup_id, jobs)


@app.command()
def restore(
    postgres_dsn: Dsn,
    backup_dir: BackupDir,
    backup_id: str,
    target_db: str = typer.Option(..., "--target-db", help="New database to restore into (must not exist)."),
    jobs: Jobs = 2,
) -> None:
    """Restore a backup into a new database on the server the DSN points at."""
    expected = _drill_seconds(backup_dir, check=False)
    result = _run(restore_backup(postgres_dsn, backup_dir, backup_id, target_db, jobs=jobs), "restore", expected)
    console.print(f"[green]restored[/green] {backup_id} into {result.database} in {result.duration_s:.2f} s")
