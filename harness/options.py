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


LoadSeed = Annotated[
    int,
    typer.Option(
        "--seed",
        min=0,
        help="Seed of the request templates' value streams: the same seed sends the same requests.",
        envvar="ATHBENCH_LOAD_SEED",
    ),
]


def apply_load_seed(seed: int) -> None:
    """Make every load phase of this run draw its request-template values from `seed`."""
    import os

    os.environ["ATHBENCH_LOAD_SEED"] = str(seed)


Endpoints = Annotated[
    Path | None,
    typer.Option(
        help="With --target: a TOML endpoint list ([[endpoint]] path, method, weight ...; "
        "{name} placeholders filled from [endpoint.params])."
    ),
]
Locustfile = Annotated[Path | None, typer.Option(help="With --target: a locustfile describing the requests.")]
TargetPids = Annotated[
    list[int] | None, typer.Option("--target-pid", help="With --target: sample these processes (repeatable).")
]


def target_options(endpoints: Path | None, locustfile: Path | None, pids: list[int] | None) -> dict:
    """RunOptions fields for --target, with the endpoint list read and checked now (a bad file fails early)."""
    from harness.load.endpoints import load_endpoints

    return {
        "endpoints": load_endpoints(endpoints) if endpoints else None,
        "locustfile": locustfile,
        "target_pids": list(pids or []),
    }
