"""The embedded PostgreSQL below a private (0700) directory, as root: it starts, and nothing is loosened."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import asyncpg
import pytest

from harness.postgres import EmbeddedPostgres, pg_bin_dir
from harness.processes import ProcessGroup
from harness.server_user import SYSTEM_USER, prune_relocated, reachable_by_others, server_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the server user is only used as root")


def test_reachability_follows_every_ancestor(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    tmp_path.chmod(0o755)
    private.chmod(0o700)
    assert not reachable_by_others(private / "inner" / "pgdata")
    private.chmod(0o711)
    assert reachable_by_others(private / "inner" / "pgdata") == reachable_by_others(tmp_path / "x")


def test_binaries_are_reachable_by_the_server_user() -> None:
    """The server user can run pg_ctl's siblings wherever pgserver is installed (a copy if need be)."""
    import subprocess

    done = subprocess.run(
        [str(pg_bin_dir() / "initdb"), "--version"], user=SYSTEM_USER, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "16" in done.stdout


def test_postgres_below_a_private_directory_starts_without_loosening_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    group = ProcessGroup(tmp_path / "logs")
    server = EmbeddedPostgres(home / "run" / "pgdata", group, settings={"fsync": "off"})
    try:
        server.start()

        async def ask() -> str:
            conn = await asyncpg.connect(server.dsn)
            try:
                return str(await conn.fetchval("SHOW data_directory"))
            finally:
                await conn.close()

        import asyncio

        real = asyncio.run(ask())
    finally:
        group.stop_all()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700, "the private directory was loosened"
    link = home / "run" / "pgdata"
    assert link.is_symlink() and Path(real) == link.resolve()
    assert reachable_by_others(Path(real))
    # the data outlives the server; once its link is gone, the next relocation reclaims it
    shutil.rmtree(home)
    assert Path(real) in prune_relocated()
    assert not Path(real).exists()


def test_reachable_directory_is_used_in_place() -> None:
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="athbench-test-", dir="/tmp"))  # pytest's own tmp root is 0700
    try:
        top.chmod(0o755)
        real, user = server_dir(top / "data")
        assert real == top / "data" and user == SYSTEM_USER
        assert not (top / "data").is_symlink()
        assert (top / "data").stat().st_uid != 0
    finally:
        shutil.rmtree(top)


def test_superuser_needs_its_password_and_the_server_stops_fast(tmp_path: Path) -> None:
    import asyncio
    import time

    group = ProcessGroup(tmp_path / "logs")
    server = EmbeddedPostgres(tmp_path / "pgdata", group, settings={"fsync": "off"})
    try:
        server.start()
        assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
        assert server.password and server.password in server.dsn

        async def connect_without_password() -> None:
            conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
            await conn.close()

        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
            asyncio.run(connect_without_password())

        async def hold_idle_connection() -> asyncpg.Connection:
            return await asyncpg.connect(server.dsn)

        loop = asyncio.new_event_loop()
        held = loop.run_until_complete(hold_idle_connection())  # a smart shutdown would wait for it
        t0 = time.monotonic()
        group.stop_all()
        stopped_in = time.monotonic() - t0
        held.terminate()  # the server closed it; drop the client side
        loop.close()
    finally:
        group.stop_all()
    log = (tmp_path / "logs" / "postgres.log").read_text()
    assert "fast shutdown request" in log and "database system is shut down" in log
    assert stopped_in < 9, "the server waited for its client (smart shutdown) until it was killed"
