"""`athbench export k8s | prometheus-rules | grafana`: production artifacts for the service."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.exports import ARTIFACTS

console = Console()


def command(
    kind: str = typer.Argument(..., help="k8s, prometheus-rules or grafana."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file (default: standard output)."),
) -> None:
    """Write Kubernetes manifests, Prometheus alert rules or a Grafana dashboard."""
    if kind not in ARTIFACTS:
        console.print(f"[red]unknown export {kind!r}[/red]: choose one of {', '.join(ARTIFACTS)}")
        raise typer.Exit(2)
    _default_name, make = ARTIFACTS[kind]
    text = make()
    if output is None:
        print(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        console.print(f"wrote {output}")
