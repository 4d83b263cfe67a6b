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
