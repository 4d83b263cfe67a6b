"""`athbench assess`: run a pack on the embedded stack (or a target) and end with the report's path."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.commands.common import execute
from harness.options import (
    Endpoints,
    ExpectWorkers,
    LoadMaster,
    LoadSeed,
    LoadWorkers,
    Locustfile,
    OutputDir,
    PostgresDsn,
    RedisUrl,
    TargetPids,
    apply_load_master,
    apply_load_seed,
    apply_load_workers,
    target_options,
)
from harness.packs import PackError, load_pack
from harness.processes import install_signal_handlers

console = Console()


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
    seed: LoadSeed = 0,
    load_master: LoadMaster = None,
    expect_workers: ExpectWorkers = None,
) -> None:
    """Run a pack and write a graded assessment report; prints the report's path at the end."""
    install_signal_handlers()
    apply_load_workers(load_workers)
    apply_load_seed(seed)
    try:
        apply_load_master(load_master, expect_workers)
        chosen = load_pack(pack or ("target" if target else "quick"))
        target_kw = target_options(endpoints, locustfile, target_pid) if target else {}
    except (PackError, ValueError, OSError) as exc:
        console.print(f"[red]bad input:[/red] {exc}")
        raise typer.Exit(2) from None
    results, run_dir = execute(
        chosen,
        console,
        profile=profile,
        output=output,
        target=target,
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        only=only or None,
        **target_kw,
    )
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
