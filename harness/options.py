"""Command-line options shared by several commands, so each is spelled and documented once.

Help texts are rich markup (typer renders them with rich): a literal `[` that could open a tag is
written through `rich.markup.escape`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

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


LoadMaster = Annotated[
    str | None,
    typer.Option(
        "--load-master",
        help="Bind the Locust master on HOST:PORT (e.g. 0.0.0.0:5557) and wait for --expect-workers workers "
        "started elsewhere with `athbench load-worker --master HOST:PORT`, instead of starting local ones.",
        envvar="ATHBENCH_LOAD_MASTER",
    ),
]
ExpectWorkers = Annotated[
    int | None,
    typer.Option(
        "--expect-workers",
        min=1,
        help="With --load-master: how many workers every load phase waits for (more are refused).",
        envvar="ATHBENCH_LOAD_EXPECT_WORKERS",
    ),
]


def apply_load_master(master: str | None, expect_workers: int | None) -> None:
    """Make every load phase of this run bind its master on `master` and wait for `expect_workers` workers
    started elsewhere; nothing changes when both are None. Raises ValueError naming what is wrong."""
    import os

    from harness.load.spec import parse_address

    if master is None and expect_workers is None:
        return
    if master is None or expect_workers is None:
        raise ValueError("--load-master HOST:PORT and --expect-workers N go together")
    parse_address(master)
    os.environ["ATHBENCH_LOAD_MASTER"] = master
    os.environ["ATHBENCH_LOAD_EXPECT_WORKERS"] = str(expect_workers)


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
        help=escape(
            "With --target: a TOML endpoint list ([[endpoint]] path, method, weight ...; "
            "{name} placeholders filled from [endpoint.params])."
        ),
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
