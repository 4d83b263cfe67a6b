"""Load from several machines (on loopback): a master (`athbench run --load-master`, or its option
path) waits for workers started separately (`python -m harness load-worker` / the worker process), merges their
histograms exactly, refuses extra workers and other athbench versions, and turns a lost worker or a
missing one into a clear, bounded failure."""

from __future__ import annotations

import importlib.metadata
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_load_ground_truth import Behaviour, Handler, Server
from typer.testing import CliRunner

import harness
from harness import results as results_io
from harness.cli import app
from harness.exports import load_workers_kubernetes
from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.recorder import Recorder, decode, record_us
from harness.load.result import build_result
from harness.load.runner import run_load
from harness.load.spec import LoadSpec, parse_address
from harness.options import apply_load_master

REPO = str(Path(harness.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": REPO}
FAST = Endpoint("/fast", name="fast")
PLAN = OpenPlan.constant(40, 2.0, users=4)
OTHER_VERSION = "0.0.0+elsewhere"
JOIN_S = 120.0  # a bound for 2 shared cores, where starting a worker process can take 10 s; not a figure


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[str, Behaviour]]:
    httpd = Server(("127.0.0.1", 0), Handler)
    behaviour = Behaviour()
    httpd.behaviour = behaviour  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", behaviour
    behaviour.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def master(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A free loopback address for the master, and `--load-master`/`--expect-workers` cleaned up after."""
    monkeypatch.delenv("ATHBENCH_LOAD_MASTER", raising=False)
    monkeypatch.delenv("ATHBENCH_LOAD_EXPECT_WORKERS", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"127.0.0.1:{port}"
    for name in ("ATHBENCH_LOAD_MASTER", "ATHBENCH_LOAD_EXPECT_WORKERS"):
        os.environ.pop(name, None)


def load_worker(address: str) -> subprocess.Popen[str]:
    """`athbench load-worker` serving one phase, as a user would start it on another machine."""
    command = [sys.executable, "-m", "harness", "load-worker", "--master", address, "--phases", "1"]
    return subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True)


def worker_process(address: str, version: str | None = None) -> subprocess.Popen[str]:
    """One worker process for one phase; ``version`` makes it claim another athbench version. (The test
    process never imports `harness.load.distributed`: Locust would monkey-patch it.)"""
    claim = f"d.athbench_version = lambda: {version!r}; " if version else ""
    code = (
        "import harness.load.worker as w, harness.load.distributed as d; "
        f"{claim}w.main(['--role', 'worker', '--master', {address!r}, '--connect-timeout', '150'])"
    )
    return subprocess.Popen([sys.executable, "-c", code], env=ENV, stderr=subprocess.PIPE, text=True)


def joining(*processes: subprocess.Popen[str]) -> None:
    """Wait until each worker process says it is joining (started up, retrying until a master answers)."""
    for process in processes:
        ready, _, _ = select.select([process.stderr], [], [], 120)
        assert ready, f"worker process {process.pid} did not start"
        line = process.stderr.readline()  # type: ignore[union-attr]
        assert "joining the master" in line, line


def finish(process: subprocess.Popen[str], timeout_s: float = 60.0) -> tuple[int, str]:
    """Exit code and stderr of a worker that should end by itself (stopped politely if it does not)."""
    try:
        _out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: `load-worker` stops its worker process too
        _out, err = process.communicate()
        raise AssertionError(f"worker process {process.pid} still running after {timeout_s} s: {err[-2000:]}") from None
    return process.returncode, err


def test_two_remote_workers_merge_to_the_single_process_figures_and_a_third_is_refused(
    target: tuple[str, Behaviour], master: str
) -> None:
    url, _behaviour = target
    workers = [load_worker(master) for _ in range(3)]  # they wait for the master
    try:
        single = run_load(url, PLAN, endpoints=[FAST], warmup_s=0.5, drain_s=1.0)
        apply_load_master(master, 2)
        remote = run_load(url, PLAN, endpoints=[FAST], warmup_s=0.5, drain_s=1.0, join_timeout_s=JOIN_S)
    finally:
        outcomes = [finish(w) for w in workers]
    codes = sorted(code for code, _err in outcomes)
    assert codes == [0, 0, 3], outcomes  # two served the phase and stopped (--phases 1), one was refused
    refused = next(err for code, err in outcomes if code == 3)
    assert "already has its 2 worker(s)" in refused
    assert remote.valid, remote.invalid_reason
    assert [(p["role"], p["index"]) for p in remote.processes] == [("worker", 0), ("worker", 1)]
    assert all(p["host"] == socket.gethostname() and not p["validity"]["saturated"] for p in remote.processes)
    for result in (single, remote):
        assert result.validity["scheduled"] == 80 and result.overall.count == 80
        assert result.overall.unsent == result.overall.incomplete == result.overall.error_count == 0
    assert sum(p["recorded"] for p in remote.processes) == remote.overall.count
    for kind in ("corrected", "uncorrected"):
        merged = decode(remote.overall.histograms[kind])
        assert merged.get_total_count() == decode(single.overall.histograms[kind]).get_total_count() == 80
    assert remote.endpoints.keys() == single.endpoints.keys() == {"fast"}
    # the same trivial target answers both within a few ms; a generous bound, not a timing threshold
    assert remote.overall.latency_ms("p50") < 100.0 and single.overall.latency_ms("p50") < 100.0  # type: ignore[operator]


def test_a_worker_lost_mid_phase_makes_the_phase_invalid_naming_it(target: tuple[str, Behaviour], master: str) -> None:
    url, behaviour = target
    apply_load_master(master, 2)
    workers = [worker_process(master) for _ in range(2)]
    joining(*workers)
    outcome: dict[str, object] = {}

    def phase() -> None:
        try:
            outcome["result"] = run_load(
                url,
                OpenPlan.constant(40, 4.0, users=4),
                endpoints=[FAST],
                warmup_s=0.5,
                drain_s=1.0,
                join_timeout_s=JOIN_S,
            )
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=phase)
    started = time.monotonic()
    seen = behaviour.seen
    thread.start()
    while behaviour.seen < seen + 60 and time.monotonic() - started < JOIN_S + 30:  # the window has begun
        time.sleep(0.05)
    os.kill(workers[1].pid, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the master hung on a lost worker"
    finish(workers[0])
    workers[1].wait()
    assert "error" not in outcome, outcome
    result = outcome["result"]
    assert not result.valid and result.validity["limited_by"] == "generator"  # type: ignore[attr-defined]
    assert len(result.validity["lost_workers"]) == 1  # type: ignore[attr-defined]
    assert f"on {socket.gethostname()} was lost mid-phase" in result.invalid_reason  # type: ignore[attr-defined]
    assert len(result.processes) == 1  # type: ignore[attr-defined]


def test_a_missing_worker_times_out_naming_a_refused_version_and_leaves_nothing_running(
    target: tuple[str, Behaviour], master: str
) -> None:
    url, _behaviour = target
    apply_load_master(master, 2)
    good, other = worker_process(master), worker_process(master, OTHER_VERSION)
    try:
        joining(good, other)
        with pytest.raises(RuntimeError) as failure:
            run_load(url, PLAN, endpoints=[FAST], warmup_s=0.5, join_timeout_s=8)
    finally:
        (good_code, good_err), (other_code, other_err) = finish(good), finish(other)
    message = str(failure.value)
    assert f"timed out after 8 s: 1 of 2 load worker(s) joined the master at {master}" in message
    assert (
        f"runs athbench {OTHER_VERSION}, the master runs athbench {importlib.metadata.version('athbench')}" in message
    )
    assert other_code == 3 and OTHER_VERSION in other_err and importlib.metadata.version("athbench") in other_err
    assert good_code == 4 and "ended without a phase" in good_err  # told to quit: it is not left running


def test_lost_and_saturated_workers_are_named_in_the_validity() -> None:
    spec = LoadSpec("http://t:1", OpenPlan.constant(100, 4.0, users=8), endpoints=(Endpoint("/p"),), workers=2)
    recorder = Recorder()
    recorder.scheduled = 200
    for i in range(200):
        recorder.record("/p", second=i // 50, uncorrected_us=2000, corrected_us=2500, error=None)
        record_us(recorder.schedule_lag, 500)
    cpu = {"unit": "%", "t": [1.0, 2.0, 3.0], "v": [20.0, 20.0, 20.0]}
    process = {"role": "worker", "index": 0, "host": "gen-a", "recorded": 200, "seen": 200, "cpu_warning": False}
    quiet = {"p50_ms": 0.2, "p99_ms": 1.0}
    late = {"p50_ms": 30.0, "p99_ms": 180.0}
    raw = {
        "recorder": recorder.to_dict(),
        "processes": [
            {**process, "window_epoch": [1.0, 5.0], "cpu_percent": cpu, "loop_lag_ms": quiet, "dispatch_lag_ms": quiet},
            {**process, "index": 1, "host": "gen-b", "window_epoch": [1.0, 5.0], "cpu_percent": cpu,
             "loop_lag_ms": late, "dispatch_lag_ms": quiet},
        ],
        "lost": [{"role": "worker", "index": 2, "host": "gen-c", "pid": 7, "reason": "it stopped sending heartbeats"}],
    }  # fmt: skip
    result = build_result(raw, spec)
    reason = result.invalid_reason or ""
    assert not result.valid and "worker 1 on gen-b's event loop woke 180.0 ms late" in reason
    assert "load worker 2 on gen-c was lost mid-phase (it stopped sending heartbeats)" in reason
    assert [p["validity"]["saturated"] for p in result.processes] == [False, True]
    assert "gen-a" not in reason


def test_bad_master_options_are_named() -> None:
    for bad in ("5557", "host:", ":5557", "host:99999", "host:port"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(bad)
    assert parse_address("0.0.0.0:5557") == ("0.0.0.0", 5557)
    with pytest.raises(ValueError, match="go together"):
        apply_load_master("0.0.0.0:5557", None)
    result = CliRunner().invoke(app, ["load-worker", "--master", "nowhere"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


def test_kubernetes_export_has_the_workers_and_the_master_service() -> None:
    deployment, service = yaml.safe_load_all(load_workers_kubernetes(3))
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 3
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["athbench", "load-worker", "--master"]
    assert parse_address(args[3]) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])
    assert service["kind"] == "Service" and service["spec"]["selector"]
    result = CliRunner().invoke(app, ["export", "k8s", "--load-workers", "2"])
    assert result.exit_code == 0, result.output
    kinds = [d["kind"] for d in yaml.safe_load_all(result.output) if d]
    assert kinds.count("Deployment") == 2 and "Service" in kinds


def test_athbench_run_as_master_drives_two_load_worker_processes(
    target: tuple[str, Behaviour], master: str, tmp_path: Path
) -> None:
    """The whole path a user takes: `athbench run --target ... --load-master --expect-workers 2` on one side,
    two `athbench load-worker` processes on the other; each serves the one phase, which counts every request."""
    url, _behaviour = target
    endpoints = tmp_path / "endpoints.toml"
    endpoints.write_text('[[endpoint]]\nname = "fast"\npath = "/fast"\n')
    workers = [load_worker(master) for _ in range(2)]
    try:
        command = [
            sys.executable, "-m", "harness", "run", "target_latency", "--pack", "target", "--target", url,
            "--endpoints", str(endpoints), "--param", "rates=[40.0]", "--param", "duration_s=2.0",
            "--param", "warmup_s=0.5", "--load-master", master, "--expect-workers", "2", "-o", str(tmp_path / "out"),
        ]  # fmt: skip
        done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=180, check=False)
    finally:
        outcomes = [finish(w) for w in workers]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [code for code, _err in outcomes] == [0, 0], outcomes  # each worker served the phase, then stopped
    (results_file,) = (tmp_path / "out").glob("*/results.json")
    scenario = results_io.read(results_file).scenarios[0]
    assert scenario.status == "complete", scenario.reason
    assert scenario.metrics["throughput_rps"].median == pytest.approx(40.0, rel=0.1)
