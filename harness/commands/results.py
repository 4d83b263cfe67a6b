"""`athbench results list | show RUN`: what runs there are and what one measured."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.options import OutputDir
from harness.results import ResultsError, read
from harness.tables import print_table

app = typer.Typer(help="List runs and show what one measured.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_runs(output: OutputDir = Path("athbench-out")) -> None:
    """Every run directory under --output, newest first, with its status."""
    rows: list[list[str]] = []
    styles: list[str | None] = []
    for path in sorted(output.glob("*/results.json"), reverse=True):
        try:
            run = read(path)
        except ResultsError as exc:
            rows.append([path.parent.name, "?", "unreadable", str(exc), ""])
            styles.append("red")
            continue
        names = sorted({s.name for s in run.scenarios})
        rows.append([run.run_id, run.pack, run.status, ", ".join(names), ", ".join(run.profiles)])
        styles.append(None)
    print_table(console, ["run", "pack", "status", "scenarios", "profiles"], rows, title=str(output), styles=styles)


@app.command("show")
def show(run: Path = typer.Argument(..., help="A run directory or its results.json.")) -> None:
    """Every metric of a run: median, 95 % CI and n, per scenario and profile."""
    try:
        results = read(run)
    except ResultsError as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(
        f"{results.run_id} pack {results.pack}: {results.status} {results.status_reason or ''}".rstrip(), markup=False
    )
    for scenario in results.scenarios:
        rows = [
            [
                name,
                f"{m.median:.4g}",
                f"{m.ci95[0]:.4g} - {m.ci95[1]:.4g}" if m.ci95 else "n too small",
                str(m.n),
                m.unit,
            ]
            for name, m in scenario.metrics.items()
        ]
        header = ["metric", "median", "95 % CI", "n", "unit"]
        print_table(console, header, rows, title=f"{scenario.name} / {scenario.profile}")
        if scenario.status != "complete":
            console.print(f"  status {scenario.status}: {scenario.reason}", markup=False)
