"""The `athbench` command line: one module per command under `harness/commands/`, imported when its
command runs (`athbench export` does not load SciPy, Locust and every scenario to start)."""

from __future__ import annotations

import importlib

import typer
from typer.core import TyperCommand, TyperGroup

# Each entry is (module under harness.commands, name). A module exposes either `app` (a typer.Typer
# group, registered as `athbench NAME ...`) or `command` (a function, registered as `athbench NAME`).
COMMANDS: list[tuple[str, str]] = [
    ("stack", "stack"),
    ("assess", "assess"),
    ("run", "run"),
    ("results", "results"),
    ("export", "export"),
    ("compare", "compare"),
    ("gate", "gate"),
    ("history", "history"),
    ("backup", "backup"),
    ("report", "report"),
    ("profile", "profile"),
    ("load_worker", "load-worker"),
]
MODULES = {name: module for module, name in COMMANDS}


class LazyCommands(TyperGroup):
    """Lists every command, and builds one (importing its module) only when it is asked for."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [name for _, name in COMMANDS]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name not in MODULES:
            return None
        module = importlib.import_module(f"harness.commands.{MODULES[cmd_name]}")
        holder = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        if hasattr(module, "app"):
            holder.add_typer(module.app, name=cmd_name)
        else:
            holder.command(name=cmd_name)(module.command)
        return typer.main.get_group(holder).commands[cmd_name]


app = typer.Typer(
    name="athbench",
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def athbench() -> None:
    """Benchmark and capacity assessment of an async web-service stack, with graded reports."""


def main() -> None:
    """Console-script entry point."""
    app()
