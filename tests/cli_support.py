"""The `athbench` command tree as click sees it: the top level builds a command only when asked for it."""

from __future__ import annotations

from typing import Any

import typer


def subcommands(command: Any) -> dict[str, Any]:
    """A group's commands by name (empty for a command that is not a group)."""
    if not hasattr(command, "list_commands"):
        return {}
    ctx = typer.Context(command)
    return {name: command.get_command(ctx, name) for name in command.list_commands(ctx)}
