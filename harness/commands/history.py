"""`athbench history RESULTS...`: nightly series as a table, charts and one HTML page, with change points and
commit ranges."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.history import (
    DEFAULT_ALPHA,
    DEFAULT_PENALTY_FACTOR,
    changes_frame,
    find_changes,
    plot_history,
    read_history,
)
from harness.results import ResultsError

console = Console()


def command(
    results: list[Path] = typer.Argument(..., help="Results files, run directories, or directories of runs."),
    out: Path = typer.Option(Path("history"), "--out", "-o", help="Where the table, change points and charts go."),
    metric: list[str] = typer.Option([], help="Only these scenario.metric series (repeatable)."),
    penalty: float = typer.Option(DEFAULT_PENALTY_FACTOR, help="PELT penalty factor (x log n, in noise units)."),
    alpha: float = typer.Option(DEFAULT_ALPHA, help="Significance a change point must reach (Mann-Whitney U)."),
    charts: bool = typer.Option(True, help="Write one PNG chart per series."),
    page: bool = typer.Option(True, help="Write the self-contained HTML page (history.html)."),
) -> None:
    """Read a series of runs, detect change points per metric and attribute them to commit ranges."""
    try:
        frame, run_infos = read_history(results)
    except ResultsError as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if frame.empty:
        console.print("[red]error:[/red] no metrics found in the given results")
        raise typer.Exit(2)
    if metric:
        frame = frame[(frame["scenario"] + "." + frame["metric"]).isin(metric)]
        if frame.empty:
            console.print(f"[red]error:[/red] none of {', '.join(metric)} is in these results")
            raise typer.Exit(2)
    changes = find_changes(frame, penalty_factor=penalty, alpha=alpha)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "history.csv", index=False)
    table_frame = changes_frame(changes)
    table_frame.to_csv(out / "change_points.csv", index=False)
    runs = frame["run_id"].nunique()
    table = Table(
        "metric",
        "profile",
        "first run after",
        "before",
        "after",
        "ratio",
        "p",
        "commit range",
        title=f"Change points over {runs} runs",
    )
    for c in changes:
        table.add_row(
            f"{c.scenario}.{c.metric}",
            c.profile,
            c.run_after,
            f"{c.median_before:.4g}",
            f"{c.median_after:.4g}",
            f"{c.ratio:.3f}",
            f"{c.p_value:.2g}",
            c.commit_range,
        )
    console.print(table if changes else f"no change point in {runs} runs")
    if charts:
        written = plot_history(frame, changes, out / "charts")
        console.print(f"{len(written)} charts in {out / 'charts'}")
    console.print(f"table: {out / 'history.csv'}; change points: {out / 'change_points.csv'}")
    if page:
        from reports.history_page import PAGE_NAME, write_history_page

        written_page = write_history_page(frame, run_infos, changes, out / PAGE_NAME)
        console.print(f"page: {written_page}", markup=False, soft_wrap=True)
