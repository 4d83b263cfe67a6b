"""`athbench compare BASELINE CANDIDATE`: per-metric ratio, its CI, significance and verdict.

Each side is a results file, a run directory or a directory of several runs: the run is the unit of
comparison, so a verdict needs several runs per side (one run per side shows the ratios only).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.commands.gate import read_side
from harness.compare import (
    DEFAULT_ALPHA,
    DEFAULT_THRESHOLD,
    CompareSettings,
    compare_runs,
    method_note,
    table_rows,
    to_markdown,
)
from harness.results import ResultsError, RunResults
from harness.tables import print_table

console = Console()
_STYLE = {"regression": "red", "improvement": "green", "undecidable": "yellow"}


def _label(runs: list[RunResults]) -> str:
    return runs[0].run_id if len(runs) == 1 else f"{len(runs)} runs ({runs[0].run_id}...)"


def command(
    baseline: Path = typer.Argument(..., help="Baseline results file, run directory or directory of runs."),
    candidate: Path = typer.Argument(..., help="Candidate results file, run directory or directory of runs."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, help="Factor beyond which a significant change counts."),
    alpha: float = typer.Option(DEFAULT_ALPHA, help="Significance level (Holm-adjusted across metrics)."),
    markdown: Path | None = typer.Option(None, help="Also write the table as Markdown to this file."),
) -> None:
    """Compare two runs metric by metric (candidate / baseline)."""
    try:
        settings = CompareSettings(threshold=threshold, alpha=alpha)
        base_runs, cand_runs = read_side([baseline]), read_side([candidate])
        comparisons = compare_runs(base_runs, cand_runs, settings)
    except (ResultsError, ValueError) as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not comparisons:
        console.print("[yellow]the two runs have no metric in common[/yellow]")
        raise typer.Exit(2)
    header, *rows = table_rows(comparisons)
    styles = [_STYLE.get(c.verdict.value) for c in comparisons]
    print_table(console, header, rows, title=f"{_label(cand_runs)} vs {_label(base_runs)}", styles=styles)
    console.print(method_note(settings), markup=False)
    if len(base_runs) == 1 and len(cand_runs) == 1:
        console.print("[yellow]one run per side: ratios only; a verdict needs several runs per side[/yellow]")
    if markdown:
        markdown.write_text(to_markdown(comparisons, settings))
        console.print(f"Markdown written to {markdown}")
