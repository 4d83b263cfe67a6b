"""`athbench gate --pack`: the common options of assess and run, and their signal handling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from typer.testing import CliRunner

from harness import results as results_io
from harness.cli import app
from tests.process_support import assert_gone, read_until

TINY_PACK = """
[pack]
name = "tiny"
seed_properties = 1000

[scenarios.db_query]
duration_s = 60.0
"""


def test_gate_help_lists_the_common_options() -> None:
    result = CliRunner().invoke(app, ["gate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--postgres-dsn", "--redis-url", "--load-workers", "--seed"):
        assert option in result.output, option


def test_sigterm_to_gate_pack_stops_every_child_and_keeps_partial_results(
    tmp_path: Path, fresh_db_dsn: str, redis_url: str
) -> None:
    """On the session's servers (the stack then starts only the service and the upstream), Redis db 7."""
    pack = tmp_path / "tiny.toml"
    pack.write_text(TINY_PACK)
    own_redis = redis_url.rsplit("/", 1)[0] + "/7"
    command = [sys.executable, "-m", "harness", "gate", "--pack", str(pack), "--repetitions", "1"]
    command += ["--output", str(tmp_path / "out"), "--postgres-dsn", fresh_db_dsn, "--redis-url", own_redis]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children: list[int] = []
    try:
        read_until(proc, "[db_query / baseline]")
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        names = {psutil.Process(p).name() for p in children}
        assert len(children) >= 2 and not {"postgres", "redis-server"} & names, names  # the given servers used
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_gone(children)
    (run_dir,) = (tmp_path / "out" / "baseline").iterdir()
    saved = results_io.read(run_dir)
    assert saved.environment["stack"]["embedded"] == {"postgres": False, "redis": False}
    assert saved.status == "incomplete" and "interrupted" in (saved.status_reason or "")
