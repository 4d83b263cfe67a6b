"""`athbench report RUN [--format html|md] [--output PATH]`: render a report from a results file alone."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.results import ResultsError, read

console = Console()


def command(
    run: Path = typer.Argument(..., help="A run directory or its results.json."),
    report_format: str = typer.Option("html", "--format", help="html (self-contained, with charts) or md."),
    output: Path | None = typer.Option(None, "--output", help="Where to write (default: report.FORMAT in the run)."),
) -> None:
    """Grade a run and write its assessment report; prints the report's path."""
    from reports.render import FORMATS, default_output, write_report
    from reports.rubric import RubricError

    if report_format not in FORMATS:
        console.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}, not {report_format!r}")
        raise typer.Exit(2)
    try:
        results = read(run)
        path = write_report(results, output or default_output(run, report_format), report_format)
    except (ResultsError, RubricError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"report ({report_format}): {path}")
