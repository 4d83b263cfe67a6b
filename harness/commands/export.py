"""`athbench export k8s | prometheus-rules | grafana [--from RUN]`: production artifacts for the service.

Without `--from` the artifacts carry the original assessment's fixed values; with it, the numbers of the
run's capacity plan (`reports.capacity_plan`) for `--profile` (default: optimized when measured).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.exports import ARTIFACTS, Sizing, load_workers_kubernetes, sizing
from harness.results import ResultsError, read
from reports.capacity_plan import PlanError, plan

console = Console()


def sizing_from(run_path: Path, profile: str | None) -> Sizing:
    """The export numbers of the capacity plan of `profile` in the results file at `run_path`."""
    run = read(run_path)
    profiles = run.profiles
    chosen = profile or ("optimized" if "optimized" in profiles else profiles[0] if profiles else None)
    if chosen not in profiles:
        raise ResultsError(f"{run_path}: no profile {chosen!r} in this run (profiles: {', '.join(profiles) or 'none'})")
    return sizing(plan(run, chosen), f"capacity plan of run {run.run_id}, profile {chosen}")


def command(
    kind: str = typer.Argument(..., help="k8s, prometheus-rules or grafana."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file (default: standard output)."),
    source: Path = typer.Option(
        None, "--from", help="Size from this run's capacity plan (results.json or its directory)."
    ),
    profile: str = typer.Option(None, "--profile", help="The profile whose plan to use (default: optimized)."),
    load_workers: int = typer.Option(
        0, "--load-workers", min=0, help="With k8s: also a Deployment of N load workers and the master's Service."
    ),
) -> None:
    """Write Kubernetes manifests, Prometheus alert rules or a Grafana dashboard."""
    if kind not in ARTIFACTS:
        console.print(f"[red]unknown export {kind!r}[/red]: choose one of {', '.join(ARTIFACTS)}")
        raise typer.Exit(2)
    try:
        numbers = None if source is None else sizing_from(source, profile)
    except (ResultsError, PlanError) as exc:
        console.print(f"[red]cannot size the export from the run[/red]: {exc}")
        raise typer.Exit(2) from None
    if load_workers and kind != "k8s":
        console.print("[red]--load-workers goes with k8s only[/red]")
        raise typer.Exit(2)
    _default_name, make = ARTIFACTS[kind]
    text = make(numbers)
    if load_workers:
        text += "---\n" + load_workers_kubernetes(load_workers)
    if output is None:
        print(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        console.print(f"wrote {output}")
