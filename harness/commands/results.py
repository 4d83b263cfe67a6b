"""`athbench results list | show RUN`: what runs there are and what one measured."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.options import OutputDir
from harness.results import ResultsError, read

app = typer.Typer(help="List runs and show what one measured.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_runs(output: OutputDir = Path("athbench-out")) -> None:
    """Every run directory under --output, newest first, with its status."""
    table = Table("run", "pack", "status", "scenarios", "profiles", title=str(output))
    for path in sorted(output.glob("*/results.json"), reverse=True):
        try:
            run = read(path)
        except ResultsError as exc:
            table.add_row(path.parent.name, "?", "[red]unreadable[/red]", str(exc), "")
            continue
        names = sorted({s.name for s in run.scenarios})
        table.add_row(run.run_id, run.pack, run.status, ", ".join(names), ", ".join(run.profiles))
    console.print(table)


@app.command("show")
def show(run: Path = typer.Argument(..., help="A run directory or its results.json.")) -> None:
    """Every metric of a run: median, 95 % CI and n, per scenario and profile."""
    try:
        results = read(run)
    except ResultsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"[bold]{results.run_id}[/bold] pack {results.pack}: {results.status} {results.status_reason or ''}")
    for scenario in results.scenarios:
        table = Table("metric", "median", "95 % CI", "n", "unit", title=f"{scenario.name} / {scenario.profile}")
        for name, m in scenario.metrics.items():
            ci = f"{m.ci95[0]:.4g} - {m.ci95[1]:.4g}" if m.ci95 else "n too small"
            table.add_row(name, f"{m.median:.4g}", ci, str(m.n), m.unit)
        console.print(table)
        if scenario.status != "complete":
            console.print(f"  status {scenario.status}: {scenario.reason}")
