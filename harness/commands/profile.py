"""`athbench profile --scenario S | --pid PID`: py-spy the service under a scenario's load, or any process."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.profiling import ProfilingError, hot_frames, record

console = Console()


def command(
    scenario: str = typer.Option(None, "--scenario", "-s", help="Profile the service while this scenario runs."),
    pid: int = typer.Option(None, "--pid", help="Profile this running process instead."),
    pack: str = typer.Option("quick", "--pack", "-p", help="With --scenario: take its parameters from this pack."),
    profile: str = typer.Option("optimized", help="With --scenario: baseline, optimized or both."),
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
    if (scenario is None) == (pid is None):
        console.print("[red]error:[/red] give exactly one of --scenario and --pid")
        raise typer.Exit(2)
    if scenario is not None:
        _profile_scenario(scenario, pack, profile, duration, output, top)
        return
    try:
        artifacts = record(pid, duration, output, name=name, rate_hz=rate)
        frames = hot_frames(artifacts.speedscope, limit=top)
    except ProfilingError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _print_frames([f.to_dict() for f in frames], top)
    console.print(
        f"{artifacts.samples} samples; speedscope: {artifacts.speedscope}; flame graph: {artifacts.flamegraph}"
    )


def _profile_scenario(scenario: str, pack: str, profile: str, duration: float, output: Path, top: int) -> None:
    """Run one scenario with py-spy attached to the service; artifacts land in the run directory."""
    from harness.commands.common import execute
    from harness.commands.run import single_scenario_pack
    from harness.packs import PackError
    from harness.processes import install_signal_handlers

    install_signal_handlers()
    try:
        chosen = single_scenario_pack(scenario, pack, [])
    except PackError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    results, run_dir = execute(chosen, console, profile=profile, output=output, profile_s=duration)
    for result in results.scenarios:
        console.print(f"[bold]{result.name} / {result.profile}[/bold]: {result.status} {result.reason or ''}")
        if "profile_error" in result.details:
            console.print(f"  [red]no profile:[/red] {result.details['profile_error']}")
            continue
        _print_frames(result.details.get("hot_frames", []), top)
        for key, path in result.artifacts.items():
            console.print(f"  {key}: {run_dir / path}")
    console.print(f"results: {run_dir / 'results.json'}")


def _print_frames(frames: list[dict], top: int) -> None:
    """Hot frames (as stored in results details) as a table."""
    table = Table("function", "file:line", "self", "total", "longest loop hold", "called from", title="hot frames")
    for f in frames[:top]:
        caller = f["caller"]
        where = f"{caller['function']} ({caller['file']}:{caller['line']})" if caller else ""
        hold = f"{f['longest_hold_ms']:.0f} ms" if f.get("longest_hold_ms") else ""
        table.add_row(
            f["function"],
            f"{f['file']}:{f['line']}",
            f"{f['self_fraction']:.1%}",
            f"{f['total_fraction']:.1%}",
            hold,
            where,
        )
    console.print(table)
