"""What the commands that run packs share: profiles from --profile, running with progress, and the exit codes.

Progress (the pack's scenario i of n with its ETA, load phases, seeding) is shown on the console: a live
bar on a terminal, timestamped lines otherwise (`harness.progress.show_progress`).

Exit codes: 130 after Ctrl-C / SIGTERM (partial results kept, marked incomplete), 2 when the stack could
not be started or the input is bad.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from harness.packs import Pack
from harness.progress import counter, plain_log, show_progress
from harness.results import RunResults
from harness.runner import RunOptions, run_pack
from harness.stack import PROFILES, StackError


def profiles_from(choice: str) -> list[str]:
    """`baseline`, `optimized` or `both` (baseline first, so each scenario runs A then B)."""
    if choice == "both":
        return list(PROFILES)
    if choice not in PROFILES:
        raise typer.BadParameter(f"expected baseline, optimized or both, got {choice!r}", param_hint="--profile")
    return [choice]


def execute(
    pack: Pack,
    console: Console,
    *,
    profile: str,
    output: Path,
    target: str | None = None,
    postgres_dsn: str | None = None,
    redis_url: str | None = None,
    **options: Any,
) -> tuple[RunResults, Path]:
    """Run `pack` as the command line asked; turn interruptions and stack failures into exit codes."""
    run_options = RunOptions(
        profiles=["target"] if target else profiles_from(profile),
        output=output,
        stack_config=stack_config(postgres_dsn, redis_url),
        target_url=target,
        log=plain_log(console),
        seed_progress=counter("seeding", "seeding properties"),
        **options,
    )
    with interruptions_as_exit_codes(console), show_progress(console):
        return run_pack(pack, run_options)


def stack_config(postgres_dsn: str | None, redis_url: str | None) -> dict[str, str]:
    """RunOptions.stack_config from --postgres-dsn and --redis-url (external servers replace embedded ones)."""
    return {k: v for k, v in {"postgres_dsn": postgres_dsn, "redis_url": redis_url}.items() if v}


@contextlib.contextmanager
def interruptions_as_exit_codes(console: Console) -> Iterator[None]:
    """Ctrl-C / SIGTERM (with `install_signal_handlers`) exits 130, a stack that did not start exits 2."""
    try:
        yield
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process stopped; partial results kept, marked incomplete[/yellow]")
        raise typer.Exit(130) from None
    except StackError as exc:
        console.print(f"[red]could not start the stack:[/red] {exc}")
        raise typer.Exit(2) from None
