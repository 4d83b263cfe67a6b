"""Locust's distributed mode: one master and N workers, on this host or on several.

Runs inside the load process (gevent). The master binds an address (127.0.0.1 on a free port for local
``--load-workers N``; the given ``HOST:PORT`` for ``--load-master``) and waits for ``spec.workers``
workers: it starts them itself (local) or the user starts them on any machine (``athbench load-worker
--master HOST:PORT``, one load phase per worker process, see `harness.commands.load_worker`). Both go
through the same path:

1. Join: each worker sends ``athbench_hello`` (its athbench version and host name) before Locust's
   ``client_ready``. The master refuses, naming why, a worker of another athbench version or one beyond
   the expected count (``athbench_refused``); Locust never sees a refused worker. Fewer than expected
   within ``spec.join_timeout_s``: an error naming who joined and who was refused.
2. Spec: the master sends each worker the phase (``athbench_spec``: the `LoadSpec`, a locustfile's text,
   the worker's index) and waits for ``athbench_ready``; then Locust dispatches the users.
3. Results: each worker runs its share of the plan (rate / N, schedules interleaved by worker index) and,
   once drained, sends its complete recorder (encoded HdrHistograms), its template counts and its own
   validity figures (CPU, loop lag, dispatch and schedule lag, host) in one ``athbench_done`` message; the
   master merges the recorders exactly. A worker that stops heartbeating (Locust: about 3 s), quits, or
   sends nothing within the phase's budget is *lost*: the phase ends without it, and
   `harness.load.result` makes it invalid naming the worker.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from time import monotonic
from typing import Any

import gevent
import locust
from gevent.event import Event
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner
from locust.stats import RequestStats

from harness.load.generator import (
    GeneratorState,
    drive,
    make_user_classes,
    new_environment,
    spawn_rate,
    start_monitors,
)
from harness.load.recorder import Recorder, summarize
from harness.load.spec import LoadSpec, parse_address

LOCAL_JOIN_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 30.0
RESULT_GRACE_S = 30.0
LOST_GRACE_S = 2.0  # missing (no heartbeat) this long after Locust marked it: the worker is lost
RETRY_S = 1.0  # a worker re-sends its hello this often until a master answers


class WorkerRefused(Exception):
    """The master refused this worker (another athbench version, or enough workers already)."""


def athbench_version() -> str:
    """The installed athbench's version (package metadata)."""
    try:
        return importlib.metadata.version("athbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AthbenchMaster(MasterRunner):
    """Locust's master, with athbench's admission rules in front of Locust's own messages."""

    def __init__(self, environment: Environment, host: str, port: int, expected: int) -> None:
        self.expected = expected
        self.version = athbench_version()
        self.accepted: dict[str, dict[str, Any]] = {}  # client id -> {host, index}
        self.refused: list[str] = []
        self.closing = False
        super().__init__(environment, host, port)

    def handle_message(self, client_id: str, msg: Message) -> None:
        if msg.type == "athbench_hello":
            self._admit(client_id, msg.data or {})
        elif client_id in self.accepted:
            super().handle_message(client_id, msg)
        # anything else from a worker not admitted (refused, or early) is dropped: Locust never sees it

    def _admit(self, client_id: str, hello: dict[str, Any]) -> None:
        if client_id in self.accepted or self.closing:
            return
        host, version = str(hello.get("host", client_id)), str(hello.get("version"))
        if version != self.version:
            reason = (
                f"load worker on {host} runs athbench {version}, the master runs athbench {self.version}: "
                "install the same version everywhere"
            )
        elif len(self.accepted) >= self.expected:
            reason = f"load worker on {host} refused: the master already has its {self.expected} worker(s)"
        else:
            self.accepted[client_id] = {"host": host, "pid": hello.get("pid"), "index": len(self.accepted)}
            return
        if reason not in self.refused:
            self.refused.append(reason)
        self.send_message("athbench_refused", {"reason": reason}, client_id)


def run_master(spec: LoadSpec) -> dict[str, Any]:
    """Run the phase on ``spec.workers`` workers (started here unless ``spec.master`` is set) and merge
    their results."""
    env = new_environment(spec, GeneratorState(spec))
    host, port = parse_address(spec.master) if spec.master else ("127.0.0.1", free_port())
    runner: AthbenchMaster = env._create_runner(AthbenchMaster, host, port, spec.workers)
    done: dict[str, dict[str, Any]] = {}
    ready: set[str] = set()
    runner.register_message("athbench_done", lambda environment, msg, **_: done.update({msg.node_id: msg.data}))
    runner.register_message("athbench_ready", lambda environment, msg, **_: ready.add(msg.node_id))
    workers: list[subprocess.Popen[bytes]] = []
    if not spec.master:
        command = [sys.executable, "-m", "harness.load.worker", "--role", "worker", "--master", f"127.0.0.1:{port}"]
        workers = [subprocess.Popen(command) for _ in range(spec.workers)]
    lost: dict[str, str] = {}
    cpu_warnings: set[str] = set()
    try:
        where = f"{host}:{port}"
        join_timeout = spec.join_timeout_s if spec.master else LOCAL_JOIN_TIMEOUT_S
        _wait(
            lambda: len(runner.accepted) >= spec.workers and all(c in runner.clients for c in runner.accepted),
            join_timeout,
            workers,
            lambda: _join_failure(runner, where),
        )
        locustfile = Path(spec.locustfile).read_text() if spec.locustfile else None
        for client_id, info in runner.accepted.items():
            data = {"spec": spec.to_dict(), "index": info["index"], "locustfile_text": locustfile}
            runner.send_message("athbench_spec", data, client_id)
        _wait(lambda: len(ready) >= spec.workers, READY_TIMEOUT_S, workers, lambda: "workers to take the phase")
        runner.start(spec.plan.users, spawn_rate=spawn_rate(spec.plan.users))
        budget = spec.warmup_s + spec.plan.duration_s + spec.drain_s + RESULT_GRACE_S
        _collect(runner, done, lost, workers, budget)
        cpu_warnings = {c for c in runner.accepted if c in runner.clients and runner.clients[c].cpu_warning_emitted}
    finally:
        runner.closing = True
        runner.quit()
        _reap(workers)
    return _merge(runner, done, lost, cpu_warnings)


def _join_failure(runner: AthbenchMaster, where: str) -> str:
    joined = ", ".join(i["host"] for i in runner.accepted.values()) or "none"
    text = f"{len(runner.accepted)} of {runner.expected} load worker(s) joined the master at {where} (joined: {joined})"
    if runner.refused:
        text += "; refused: " + "; ".join(runner.refused)
    return text


def _collect(
    runner: AthbenchMaster,
    done: dict[str, Any],
    lost: dict[str, str],
    workers: list[subprocess.Popen[bytes]],
    budget_s: float,
) -> None:
    """Wait until every admitted worker has sent its result or is lost (named in ``lost``), bounded."""
    deadline = monotonic() + budget_s
    missing_since: dict[str, float] = {}
    by_index = {info["index"]: c for c, info in runner.accepted.items()}
    local = {p.pid: p for p in workers}
    while True:
        now = monotonic()
        for client_id in runner.accepted:
            if client_id in done or client_id in lost:
                continue
            node = runner.clients.get(client_id)
            process = local.get(runner.accepted[client_id]["pid"])
            if process is not None and process.poll() is not None:
                lost[client_id] = f"its process exited (code {process.returncode}) before sending its result"
            elif node is None:
                lost[client_id] = "it quit before sending its result"
            elif node.state == STATE_MISSING:
                since = missing_since.setdefault(client_id, now)
                if now - since >= LOST_GRACE_S:
                    lost[client_id] = "it stopped sending heartbeats"
            else:
                missing_since.pop(client_id, None)
        if all(c in done or c in lost for c in by_index.values()):
            return
        if now > deadline:
            for client_id in by_index.values():
                if client_id not in done:
                    lost.setdefault(client_id, f"it sent no result within {budget_s:.0f} s")
            return
        gevent.sleep(0.05)


def _merge(
    runner: AthbenchMaster, done: dict[str, Any], lost: dict[str, str], cpu_warnings: set[str]
) -> dict[str, Any]:
    merged = Recorder()
    processes: list[dict[str, Any]] = []
    templates: list[dict[str, Any]] = []  # per worker: its template streams' summaries with counts
    for client_id, data in sorted(done.items(), key=lambda item: runner.accepted[item[0]]["index"]):
        merged.merge(Recorder.from_dict(data["recorder"]))
        for process in data["processes"]:
            process["cpu_warning"] = process["cpu_warning"] or client_id in cpu_warnings
        processes.extend(data["processes"])
        templates.extend(data.get("templates", []))
    lost_workers = [
        {"role": "worker", **runner.accepted[c], "reason": reason}
        for c, reason in sorted(lost.items(), key=lambda item: runner.accepted[item[0]]["index"])
    ]
    return {"recorder": merged.to_dict(), "processes": processes, "templates": templates, "lost": lost_workers}


def _wait(condition: Any, timeout_s: float, workers: list[subprocess.Popen[bytes]], what: Any) -> None:
    deadline = monotonic() + timeout_s
    while not condition():
        dead = [p.pid for p in workers if p.poll() is not None]
        if dead:
            raise RuntimeError(f"load worker process(es) {dead} exited while waiting for {what()}")
        if monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s: {what()}")
        gevent.sleep(0.05)


def _reap(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class AthbenchWorker(WorkerRunner):
    """Locust's worker, introducing itself (version, host) and taking its phase from the master."""

    def __init__(self, environment: Environment, host: str, port: int, connect_timeout_s: float) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.connect_deadline = monotonic() + connect_timeout_s
        self.refused: str | None = None
        self.phase: dict[str, Any] | None = None
        self.phase_event = Event()
        super().__init__(environment, host, port)

    def connect_to_master(self) -> None:
        hello = {"version": athbench_version(), "host": socket.gethostname(), "pid": os.getpid()}
        while True:
            self.client.send(Message("athbench_hello", hello, self.client_id))
            self.client.send(Message("client_ready", locust.__version__, self.client_id))
            self.connection_event.wait(timeout=RETRY_S)
            if self.refused:
                raise WorkerRefused(self.refused)
            if self.connection_event.is_set():
                self.connected = True
                return
            if monotonic() > self.connect_deadline:
                where = f"{self.master_host}:{self.master_port}"
                raise ConnectionError(f"no load master answered at {where} within {self.connect_timeout_s:g} s")

    def handle_message(self, msg: Message) -> None:
        if msg.type == "athbench_refused":
            self.refused = str(msg.data["reason"])
            self.connection_event.set()
        elif msg.type == "athbench_spec":
            self.phase = msg.data
            self.phase_event.set()
        else:
            if msg.type == "quit":
                self.phase_event.set()  # the master ended (e.g. fewer workers than expected joined)
            super().handle_message(msg)  # "quit" kills this very greenlet


def run_worker(master: str, connect_timeout_s: float) -> None:
    """One worker for one phase: join the master at ``master`` (HOST:PORT), take the phase it sends, run
    this worker's share and send the full recorder back. Raises `WorkerRefused` or ConnectionError."""
    host, port = parse_address(master)
    print(f"load worker {os.getpid()}: joining the master at {master}", file=sys.stderr, flush=True)
    env = Environment(user_classes=[], events=locust.events)
    env.stats = RequestStats(use_response_times_cache=False)  # as Locust's own workers
    runner: AthbenchWorker = env._create_runner(AthbenchWorker, host, port, connect_timeout_s)
    runner.phase_event.wait(timeout=READY_TIMEOUT_S + LOCAL_JOIN_TIMEOUT_S)
    phase = runner.phase
    if phase is None:
        runner.quit()
        raise ConnectionError(f"the load master at {master} admitted this worker but ended without a phase")
    data = dict(phase["spec"])
    with tempfile.TemporaryDirectory(prefix="athbench-worker-") as tmp:
        if phase.get("locustfile_text") is not None:
            path = Path(tmp) / Path(data["locustfile"]).name
            path.write_text(phase["locustfile_text"])
            data["locustfile"] = str(path)
        data["cpu_affinity"] = None  # the master's CPU list means nothing on another machine
        data["master"] = None
        spec = LoadSpec.from_dict(data)
        index = int(phase["index"])
        state = GeneratorState(spec)
        env.user_classes = make_user_classes(spec, state)
        env.host = spec.target_url
        env.events.request.add_listener(state.on_request)

        def on_test_start(**_: Any) -> None:
            state.start(share=1.0 / spec.workers, phase=index / spec.workers, worker=index)
            gevent.spawn(_finish_worker, state, runner, index)

        env.events.test_start.add_listener(on_test_start)
        runner.send_message("athbench_ready")
        bound = READY_TIMEOUT_S + spec.warmup_s + spec.plan.duration_s + spec.drain_s + RESULT_GRACE_S
        if not runner.greenlet.join(timeout=bound):  # the master says quit after the phase; if it died, stop
            runner.quit()


def _finish_worker(state: GeneratorState, runner: AthbenchWorker, index: int) -> None:
    monitors = start_monitors(state)
    drive(state, runner)
    gevent.killall(monitors)
    result = state.finish("worker", index, runner.cpu_warning_emitted)
    recorder = state.recorder
    result["processes"][0].update(
        host=socket.gethostname(),
        loop_lag_ms=summarize(recorder.loop_lag),
        dispatch_lag_ms=summarize(recorder.dispatch_lag),
        schedule_lag_ms=summarize(recorder.schedule_lag),
    )
    runner.send_message("athbench_done", result)
