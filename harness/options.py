"""Command-line options shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Profile = Annotated[str, typer.Option(help="Service profile: baseline or optimized.", envvar="ATHBENCH_PROFILE")]
PostgresDsn = Annotated[
    str | None,
    typer.Option(help="Use this PostgreSQL instead of the embedded one.", envvar="ATHBENCH_POSTGRES_DSN"),
]
RedisUrl = Annotated[
    str | None, typer.Option(help="Use this Redis instead of the embedded one.", envvar="ATHBENCH_REDIS_URL")
]
RunDir = Annotated[Path | None, typer.Option(help="Directory for server data and logs (default: a temporary one).")]
OutputDir = Annotated[Path, typer.Option("--output", "-o", help="Where run directories are written.")]
LoadWorkers = Annotated[
    int,
    typer.Option(
        min=1,
        help="Locust worker processes per load phase (Locust's distributed mode, histograms merged exactly).",
        envvar="ATHBENCH_LOAD_WORKERS",
    ),
]


def apply_load_workers(workers: int) -> None:
    """Make every load phase of this run use `workers` Locust workers unless a scenario says otherwise."""
    import os

    os.environ["ATHBENCH_LOAD_WORKERS"] = str(workers)
