"""`athbench run SCENARIO`: one scenario, with the parameters of a pack and overrides."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.commands.common import execute
from harness.options import (
    Endpoints,
    ExpectWorkers,
    LoadMaster,
    LoadSeed,
    LoadWorkers,
    Locustfile,
    OutputDir,
    PostgresDsn,
    RedisUrl,
    TargetPids,
    apply_load_master,
    apply_load_seed,
    apply_load_workers,
    target_options,
)
from harness.packs import Pack, PackEntry, PackError, get_scenario, load_pack
from harness.processes import install_signal_handlers

console = Console()


def scenario_lines() -> list[tuple[str, str]]:
    """Every registered scenario (`scenarios/<name>.py` defining SCENARIO) with its one-line description."""
    from harness.packs import available_scenarios

    return [(name, s.description) for name, s in sorted(available_scenarios().items())]


def _list_scenarios(value: bool) -> None:
    """`--list`: print the scenarios and stop before the SCENARIO argument is required."""
    if not value:
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for name, description in scenario_lines():
        grid.add_row(Text(name, style="bold"), Text(description))
    console.print(grid)
    raise typer.Exit(0)


def command(
    scenario: str = typer.Argument(..., help="Scenario name (see `athbench run --list`)."),
    list_scenarios: bool = typer.Option(
        False,
        "--list",
        is_eager=True,
        expose_value=False,
        callback=_list_scenarios,
        help="List the scenarios with a one-line description, and exit.",
    ),
    pack: str = typer.Option("quick", "--pack", "-p", help="Take parameters and targets from this pack."),
    param: list[str] = typer.Option(None, "--param", help="Override a parameter: KEY=VALUE (JSON value)."),
    profile: str = typer.Option("optimized", help="baseline, optimized or both.", envvar="ATHBENCH_PROFILE"),
    output: OutputDir = Path("athbench-out"),
    postgres_dsn: PostgresDsn = None,
    redis_url: RedisUrl = None,
    target: str = typer.Option(None, help="Measure this already-running service instead of starting the stack."),
    endpoints: Endpoints = None,
    locustfile: Locustfile = None,
    target_pid: TargetPids = None,
    load_workers: LoadWorkers = 1,
    seed: LoadSeed = 0,
    load_master: LoadMaster = None,
    expect_workers: ExpectWorkers = None,
) -> None:
    """Run a single scenario and write its results file."""
    install_signal_handlers()
    apply_load_workers(load_workers)
    apply_load_seed(seed)
    try:
        apply_load_master(load_master, expect_workers)
        chosen = single_scenario_pack(scenario, pack, param or [])
        target_kw = target_options(endpoints, locustfile, target_pid) if target else {}
    except (PackError, ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    results, run_dir = execute(
        chosen,
        console,
        profile=profile,
        output=output,
        target=target,
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        **target_kw,
    )
    for result in results.scenarios:
        console.print(f"{result.name} / {result.profile}: {result.status} {result.reason or ''}")
        for name, metric in result.metrics.items():
            ci = f"[{metric.ci95[0]:.4g}, {metric.ci95[1]:.4g}]" if metric.ci95 else "(n too small)"
            console.print(f"  {name:32} {metric.median:12.4g} {metric.unit:6} {ci} n={metric.n}")
    console.print(f"results: {run_dir / 'results.json'}")


def single_scenario_pack(name: str, pack_name: str, overrides: list[str]) -> Pack:
    """A one-scenario pack: the pack's entry for it (or its defaults), with KEY=VALUE overrides applied."""
    from harness.packs import parse_pack

    scenario = get_scenario(name)
    base = load_pack(pack_name)
    entry = next((e for e in base.entries if e.scenario.name == name), PackEntry(scenario, dict(scenario.defaults)))
    params = dict(entry.params)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise PackError(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    targets = {k: v for k, v in base.targets.items() if k.startswith(f"{name}.")}
    raw = {"pack": {"name": f"{base.name}-{name}"}, "scenarios": {name: params}, "targets": targets}
    return parse_pack(raw, base.path)
