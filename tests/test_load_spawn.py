"""Load processes are forked by one fork server (imports paid once), or started afresh when it is off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.load import spawn


def test_children_are_forked_by_one_server_in_sessions_of_their_own(tmp_path: Path) -> None:
    env = dict(os.environ)
    first = spawn.start_load_process(["--role", "no-such-role"], env, tmp_path / "a.log")
    assert first.wait(timeout=60) == 2  # argparse's exit code: the worker's own main ran, and failed
    assert "invalid choice: 'no-such-role'" in (tmp_path / "a.log").read_text()
    server = spawn._server
    assert server is not None and server.alive()
    second = spawn.start_load_process(["--role", "worker"], env, tmp_path / "b.log")
    assert second.wait(timeout=60) == 2 and "needs --master" in (tmp_path / "b.log").read_text()
    assert spawn._server is server and server.alive()  # the same server answered both
    assert first._popen is None and second.pid != first.pid
    second.stop()  # stopping an ended process is harmless; it is gone afterwards
    with pytest.raises(ProcessLookupError):
        os.kill(second.pid, 0)


def test_a_running_load_process_leads_its_own_session_and_stop_ends_it(tmp_path: Path) -> None:
    # a worker waiting for a master that never answers runs until its connect timeout: stop it before
    argv = ["--role", "worker", "--master", "127.0.0.1:9", "--connect-timeout", "60"]
    process = spawn.start_load_process(argv, dict(os.environ), tmp_path / "d.log")
    assert process.poll() is None
    assert os.getsid(process.pid) == process.pid  # killpg(pid) reaches it and all it starts
    process.stop()
    assert process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


def test_with_the_server_off_a_fresh_interpreter_runs_the_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATHBENCH_LOAD_FORKSERVER", "0")
    process = spawn.start_load_process(["--role", "no-such-role"], dict(os.environ), tmp_path / "c.log")
    assert process._popen is not None
    assert process.wait(timeout=60) == 2
    assert "invalid choice" in (tmp_path / "c.log").read_text()
