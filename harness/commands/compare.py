"""`athbench compare RUN_A RUN_B`: per-metric ratio, its CI, significance and verdict."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLD, CompareSettings, compare_runs, table_rows, to_markdown
from harness.results import ResultsError, read

console = Console()
_STYLE = {"regression": "red", "improvement": "green", "undecidable": "yellow"}


def command(
    baseline: Path = typer.Argument(..., help="Baseline results file (or run directory)."),
    candidate: Path = typer.Argument(..., help="Candidate results file (or run directory)."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, help="Factor beyond which a significant change counts."),
    alpha: float = typer.Option(DEFAULT_ALPHA, help="Significance level (Holm-adjusted across metrics)."),
    markdown: Path | None = typer.Option(None, help="Also write the table as Markdown to this file."),
) -> None:
    """Compare two runs metric by metric (candidate / baseline)."""
    try:
        settings = CompareSettings(threshold=threshold, alpha=alpha)
        base_run, cand_run = read(baseline), read(candidate)
        comparisons = compare_runs(base_run, cand_run, settings)
    except (ResultsError, ValueError) as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not comparisons:
        console.print("[yellow]the two runs have no metric in common[/yellow]")
        raise typer.Exit(2)
    header, *rows = table_rows(comparisons)
    table = Table(*header, title=f"{cand_run.run_id} vs {base_run.run_id}")
    for row, c in zip(rows, comparisons, strict=True):
        table.add_row(*row, style=_STYLE.get(c.verdict.value))
    console.print(table)
    console.print(
        f"threshold x{settings.threshold:g}, alpha {settings.alpha:g} (Mann-Whitney U, Holm); "
        "ratio CI by percentile bootstrap"
    )
    if markdown:
        markdown.write_text(to_markdown(comparisons, settings))
        console.print(f"Markdown written to {markdown}")
