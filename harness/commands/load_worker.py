"""`athbench load-worker --master HOST:PORT`: a Locust worker for load from several machines.

Start it on any machine that reaches the master (`athbench assess|run --load-master HOST:PORT
--expect-workers N`). It serves phase after phase: each phase runs in its own worker process (so no
Locust state leaks from one phase to the next), which joins the phase's master, takes the phase it is
sent, and ends when the master says the phase is over. It stops on Ctrl-C, after ``--phases`` phases,
when no master answers for ``--idle-timeout`` seconds, or when the master refuses it (another athbench
version, or the master has its workers already): then it names why.
"""

from __future__ import annotations

import os
import subprocess
import sys

import typer
from rich.console import Console

from harness.load.spec import parse_address
from harness.processes import install_signal_handlers

console = Console(stderr=True)

REFUSED_EXIT = 3  # as harness.load.worker (which the harness does not import: it patches with gevent)
NO_MASTER_EXIT = 4
FOREVER_S = 3600.0  # one wait of a worker process for a master when there is no --idle-timeout


def command(
    master: str = typer.Option(..., "--master", help="The master's HOST:PORT (as given to --load-master)."),
    phases: int = typer.Option(0, min=0, help="Stop after this many load phases (0: serve until Ctrl-C)."),
    idle_timeout: float = typer.Option(
        0.0, min=0.0, help="Stop when no master answers for this many seconds (0: wait for ever)."
    ),
) -> None:
    """Serve load phases to the master at HOST:PORT until Ctrl-C (or --phases / --idle-timeout)."""
    try:
        parse_address(master)
    except ValueError as exc:
        console.print(f"[red]bad input:[/red] --master: {exc}")
        raise typer.Exit(2) from None
    install_signal_handlers()
    served = 0
    command_line = [sys.executable, "-m", "harness.load.worker", "--role", "worker", "--master", master]
    command_line += ["--connect-timeout", f"{idle_timeout or FOREVER_S:g}"]
    console.print(f"load worker: serving the master at {master} (Ctrl-C to stop)")
    while not phases or served < phases:
        code = serve_one(command_line)
        if code == 0:
            served += 1
            console.print(f"load worker: phase {served} served")
        elif code == REFUSED_EXIT:
            raise typer.Exit(REFUSED_EXIT)  # the worker process printed the master's reason
        elif code == NO_MASTER_EXIT:
            if idle_timeout:
                console.print(f"load worker: no master at {master} for {idle_timeout:g} s; stopping")
                raise typer.Exit(NO_MASTER_EXIT)
        else:
            console.print(f"[red]load worker process failed (exit {code})[/red]")
            raise typer.Exit(1)


def serve_one(command_line: list[str]) -> int:
    """Run one worker process to its end; on Ctrl-C (or SIGTERM) stop it and re-raise."""
    process = subprocess.Popen(command_line, env=os.environ.copy())
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
