"""`athbench assess`: run a pack on the embedded stack (or a target) and end with the report's path."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.options import (
    Endpoints,
    LoadWorkers,
    Locustfile,
    OutputDir,
    PostgresDsn,
    RedisUrl,
    TargetPids,
    apply_load_workers,
    target_options,
)
from harness.packs import PackError, load_pack
from harness.processes import install_signal_handlers
from harness.progress import plain_log, seed_progress
from harness.runner import RunOptions, run_pack
from harness.stack import PROFILES, StackError

console = Console()


def profiles_from(choice: str) -> list[str]:
    """`baseline`, `optimized` or `both` (baseline first, so each scenario runs A then B)."""
    if choice == "both":
        return list(PROFILES)
    if choice not in PROFILES:
        raise typer.BadParameter(f"expected baseline, optimized or both, got {choice!r}", param_hint="--profile")
    return [choice]


def command(
    pack: str = typer.Option(
        None,
        "--pack",
        "-p",
        help="Pack (quick, nightly, release, target) or a TOML file; default quick, or target with --target.",
    ),
    profile: str = typer.Option("optimized", help="baseline, optimized or both.", envvar="ATHBENCH_PROFILE"),
    output: OutputDir = Path("athbench-out"),
    postgres_dsn: PostgresDsn = None,
    redis_url: RedisUrl = None,
    target: str = typer.Option(None, help="Assess this already-running service instead of starting the stack."),
    endpoints: Endpoints = None,
    locustfile: Locustfile = None,
    target_pid: TargetPids = None,
    only: list[str] = typer.Option(None, "--only", help="Run only these scenarios of the pack (repeatable)."),
    report_format: list[str] = typer.Option(["html", "md"], "--format", help="Report formats to write."),
    load_workers: LoadWorkers = 1,
) -> None:
    """Run a pack and write a graded assessment report; prints the report's path at the end."""
    install_signal_handlers()
    apply_load_workers(load_workers)
    try:
        chosen = load_pack(pack or ("target" if target else "quick"))
        target_kw = target_options(endpoints, locustfile, target_pid) if target else {}
    except (PackError, ValueError, OSError) as exc:
        console.print(f"[red]bad input:[/red] {exc}")
        raise typer.Exit(2) from None
    options_kw = {"postgres_dsn": postgres_dsn, "redis_url": redis_url}
    try:
        with seed_progress(console) as progress:
            options = RunOptions(
                profiles=["target"] if target else profiles_from(profile),
                output=output,
                stack_config={k: v for k, v in options_kw.items() if v},
                target_url=target,
                only=only or None,
                log=plain_log(console),
                seed_progress=progress,
                **target_kw,
            )
            results, run_dir = run_pack(chosen, options)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process stopped; partial results kept, marked incomplete[/yellow]")
        raise typer.Exit(130) from None
    except StackError as exc:
        console.print(f"[red]could not start the stack:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"results: {run_dir / 'results.json'} (status {results.status})")
    if results.status_reason:
        console.print(f"  {results.status_reason}")
    paths = render_reports(run_dir, report_format)
    for fmt, path in paths.items():
        console.print(f"report ({fmt}): {path}")


def render_reports(run_dir: Path, formats: list[str]) -> dict[str, Path]:
    """Render the run's reports from its results file alone."""
    from harness.results import read
    from reports.render import write_report

    results = read(run_dir / "results.json")
    return {fmt: write_report(results, run_dir / f"report.{fmt}", fmt) for fmt in formats}
