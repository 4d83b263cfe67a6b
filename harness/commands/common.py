"""What the commands that run packs share: profiles from --profile, running with progress, and the exit codes.

Exit codes: 130 after Ctrl-C / SIGTERM (partial results kept, marked incomplete), 2 when the stack could
not be started or the input is bad.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from harness.packs import Pack
from harness.progress import plain_log, seed_progress
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
    stack_config = {k: v for k, v in {"postgres_dsn": postgres_dsn, "redis_url": redis_url}.items() if v}
    try:
        with seed_progress(console) as progress:
            run_options = RunOptions(
                profiles=["target"] if target else profiles_from(profile),
                output=output,
                stack_config=stack_config,
                target_url=target,
                log=plain_log(console),
                seed_progress=progress,
                **options,
            )
            return run_pack(pack, run_options)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process stopped; partial results kept, marked incomplete[/yellow]")
        raise typer.Exit(130) from None
    except StackError as exc:
        console.print(f"[red]could not start the stack:[/red] {exc}")
        raise typer.Exit(2) from None
