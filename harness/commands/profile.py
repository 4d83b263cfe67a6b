"""`athbench profile --pid PID`: py-spy a running process; speedscope JSON, flame graph SVG, hot frames."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.profiling import ProfilingError, hot_frames, record

console = Console()


def command(
    pid: int = typer.Option(..., "--pid", help="Process to profile (e.g. the service under test)."),
    duration: float = typer.Option(10.0, "--duration", help="Seconds to record."),
    output: Path = typer.Option(Path("athbench-out/profiles"), "--output", help="Directory for the files."),
    name: str = typer.Option("profile", "--name", help="File name stem."),
    rate: int = typer.Option(100, "--rate", help="Samples per second."),
    top: int = typer.Option(15, "--top", help="Hot frames to print."),
) -> None:
    """Record a sampling profile; print where the time goes and which calls held the event loop."""
    if duration <= 0 or rate <= 0:
        console.print("[red]error:[/red] --duration and --rate must be positive")
        raise typer.Exit(2)
    try:
        artifacts = record(pid, duration, output, name=name, rate_hz=rate)
        frames = hot_frames(artifacts.speedscope, limit=top)
    except ProfilingError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table("function", "file:line", "self", "total", "longest loop hold", "called from", title="hot frames")
    for f in frames:
        caller = f"{f.caller.function} ({f.caller.file}:{f.caller.line})" if f.caller else ""
        hold = f"{f.longest_hold_ms:.0f} ms" if f.longest_hold_ms else ""
        table.add_row(
            f.function, f"{f.file}:{f.line}", f"{f.self_fraction:.1%}", f"{f.total_fraction:.1%}", hold, caller
        )
    console.print(table)
    console.print(
        f"{artifacts.samples} samples; speedscope: {artifacts.speedscope}; flame graph: {artifacts.flamegraph}"
    )
