"""The `athbench` command line: one module per command under `harness/commands/`."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="athbench",
    help="Benchmark and capacity assessment of an async web-service stack, with graded reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

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


def _register() -> None:
    for module_name, name in COMMANDS:
        module = importlib.import_module(f"harness.commands.{module_name}")
        if hasattr(module, "app"):
            app.add_typer(module.app, name=name)
        else:
            app.command(name=name)(module.command)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
