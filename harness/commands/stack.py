"""`athbench stack up | seed`: bring the stack up by hand, check it, or seed its database."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from harness.options import PostgresDsn, Profile, RedisUrl, RunDir
from harness.processes import install_signal_handlers
from harness.progress import seed_progress
from harness.stack import Stack, StackConfig, StackError, redact_dsn
from harness.tables import print_table

if TYPE_CHECKING:
    from harness.smoke import Check
    from system_under_test.data.seed import SeedReport

app = typer.Typer(help="Start the stack under test by hand, check it, or seed its database.", no_args_is_help=True)
console = Console()


@app.command()
def up(
    profile: Profile = "optimized",
    postgres_dsn: PostgresDsn = None,
    redis_url: RedisUrl = None,
    run_dir: RunDir = None,
    port: int = typer.Option(None, help="Service port on 127.0.0.1 (default: a free one)."),
    properties: int = typer.Option(10_000, help="Properties to seed into an empty database."),
    check: bool = typer.Option(False, "--check", help="Call every endpoint once, print the results, stop."),
    test_knobs: bool = typer.Option(False, help="Enable the test-only delay / CPU-burn knob."),
) -> None:
    """Start PostgreSQL, Redis, the upstream and the service; Ctrl-C stops everything."""
    from harness.smoke import run_checks
    from system_under_test.data.seed import ForeignDatabaseError

    install_signal_handlers()
    directory = run_dir or Path(tempfile.mkdtemp(prefix="athbench-stack-"))
    config = StackConfig.from_env(
        directory,
        profile=profile,
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        service_port=port,
        seed_properties=properties,
        test_knobs=test_knobs,
    )
    t0 = time.perf_counter()
    try:
        with seed_progress(console) as progress, Stack(config, seed_progress=progress) as stack:
            _print_stack(stack, time.perf_counter() - t0)
            if check:
                checks = run_checks(stack.service_url, stack.admin_token)
                print_checks(console, checks)
                failed = [c for c in checks if not c.ok]
                if failed:
                    console.print(f"[red]{len(failed)} endpoint(s) did not answer as documented[/red]")
                    raise typer.Exit(1)
                console.print(f"[green]all {len(checks)} endpoints answered as documented[/green]")
                return
            console.print("Press Ctrl-C to stop.")
            signal.pause()
    except KeyboardInterrupt:
        console.print("stopped")
    except (StackError, ForeignDatabaseError) as exc:
        console.print(Text.assemble(("error: ", "red"), str(exc)))
        raise typer.Exit(2) from None


@app.command()
def seed(
    properties: int = typer.Option(..., "--properties", "-n", min=1, help="How many properties to generate."),
    postgres_dsn: PostgresDsn = None,
    run_dir: RunDir = None,
    seed: int = typer.Option(42, help="Random seed of the generator."),
    force: bool = typer.Option(
        False, "--force", help="Replace athbench's tables even in a database holding tables athbench did not create."
    ),
) -> None:
    """Seed a database (an external DSN, or an embedded server in --run-dir) and report the load time.

    A database with tables but without athbench's marker is refused (nothing dropped) unless --force.
    """
    from harness import postgres
    from harness.processes import ProcessGroup
    from system_under_test.data.seed import ForeignDatabaseError
    from system_under_test.data.seed import seed as seed_database

    install_signal_handlers()
    group = None
    try:
        dsn = postgres_dsn
        if not dsn:
            directory = run_dir or Path(tempfile.mkdtemp(prefix="athbench-seed-"))
            group = ProcessGroup(directory / "logs")
            server = postgres.EmbeddedPostgres(directory / "pgdata", group)
            server.start()
            dsn = server.dsn
            console.print(
                f"embedded PostgreSQL in {directory / 'pgdata'} on {redact_dsn(server.dsn)} "
                f"(password in {server.password_file})"
            )
        else:
            postgres.check_reachable(dsn)
        with seed_progress(console) as progress:
            report = asyncio.run(seed_database(dsn, properties, seed=seed, progress=progress, force=force))
        console.print(seed_sentence(report), markup=False)
    except (postgres.PostgresError, StackError, ForeignDatabaseError) as exc:
        console.print(Text.assemble(("error: ", "red"), str(exc)))
        raise typer.Exit(2) from None
    finally:
        if group is not None:
            group.stop_all()


def print_checks(console: Console, checks: list[Check]) -> None:
    """The endpoint check as a table (one block per endpoint when the console is too narrow)."""
    from harness.smoke import HEALTH

    rows = [
        [
            c.path,
            c.method,
            "200/503" if c.expected == HEALTH else str(c.expected),
            str(c.status),
            "yes" if c.ok else f"NO {c.detail}",
        ]
        for c in checks
    ]
    styles = [None if c.ok else "red" for c in checks]
    print_table(console, ["path", "method", "expected", "got", "ok"], rows, title="Endpoint check", styles=styles)


def seed_sentence(report: SeedReport) -> str:
    """What `stack seed` loaded and how long it took, as a sentence."""
    return (
        f"Seeded {report.properties:,} properties, {report.market_transactions:,} market transactions, "
        f"{report.users:,} users and {report.portfolios:,} portfolios ({report.portfolio_properties:,} "
        f"portfolio properties) in {report.seconds:.1f} s: loading {report.load_seconds:.1f} s, "
        f"indexes {report.index_seconds:.1f} s."
    )


def _print_stack(stack: Stack, seconds: float) -> None:
    info = stack.describe()
    console.print(f"[bold]service[/bold]   {info['service_url']}  (profile {info['profile']})")
    console.print(f"[bold]postgres[/bold]  {info['postgres']}  ({info['versions'].get('postgres', '?')})")
    console.print(f"[bold]redis[/bold]     {info['redis']}  ({info['versions'].get('redis', '?')})")
    if info["upstream_url"]:
        console.print(f"[bold]upstream[/bold]  {info['upstream_url']}")
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in stack.startup_seconds.items())
    console.print(f"up in {seconds:.1f}s ({parts})")
