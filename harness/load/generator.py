"""The Locust side of a load phase: users, the request listener, the per-process run.

Imported only inside the load process (`harness.load.worker`), which has gevent's monkey-patching
applied before anything else; the harness itself never imports this module.

Open model: every user repeatedly takes the next slot of the shared schedule (its due time and
endpoint), sleeps until it is due, sends, and records. A slot taken after it was already due means
every user was busy (the lateness is the *schedule lag*); a user that was idle but woke late shows
the generator's own lateness (*dispatch lag*). Closed model: every user sends back to back.
"""

from __future__ import annotations

import os
import random
import time
from time import perf_counter
from typing import Any

import gevent
import locust
import psutil
from locust import FastHttpUser, User, constant, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import Runner

from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.recorder import Recorder, classify_error, record_us
from harness.load.spec import LoadSpec

START_GRACE_S = 0.3  # lets all users spawn before the first slot is due
CPU_INTERVAL_S = 1.0
LOOP_PROBE_S = 0.01


class GeneratorState:
    """Schedule, recorder and bookkeeping of one load process."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.recorder = Recorder()
        self.window_start = spec.warmup_s
        self.window_end = spec.warmup_s + spec.plan.duration_s
        self.t0 = 0.0
        self.epoch0 = 0.0  # wall-clock (epoch) time of t0
        self.stopping = False
        self.in_flight = 0
        self.sent_in_window = 0
        self.seen = 0
        self.cpu_t: list[float] = []
        self.cpu_v: list[float] = []
        self._arrivals: Any = iter(())
        endpoints = list(spec.endpoints)
        self._endpoints = endpoints
        self._weights = [e.weight for e in endpoints]
        self._rng = random.Random(0)

    def start(self, share: float = 1.0, phase: float = 0.0) -> None:
        """Fix the run's origin; the open schedule (this process' share of it) starts a moment later."""
        plan = self.spec.plan
        if isinstance(plan, OpenPlan):
            self._arrivals = plan.arrivals(self.spec.warmup_s, share=share, phase=phase)
            self.t0 = perf_counter() + START_GRACE_S
        else:
            self.t0 = perf_counter()
        self._rng = random.Random(int(phase * 1_000_003))
        self.epoch0 = time.time() - perf_counter() + self.t0

    def pick(self) -> Endpoint:
        if len(self._endpoints) == 1:
            return self._endpoints[0]
        return self._rng.choices(self._endpoints, weights=self._weights)[0]

    def in_window(self, offset: float) -> bool:
        return self.window_start <= offset < self.window_end

    def next_slot(self) -> tuple[float, Endpoint] | None:
        """Due time (perf_counter) and endpoint of the next scheduled request, None once the run is over."""
        if self.stopping or perf_counter() - self.t0 >= self.window_end:
            return None
        offset = next(self._arrivals, None)
        if offset is None:
            return None
        if self.in_window(offset):
            self.recorder.scheduled += 1
        return self.t0 + offset, self.pick()

    def on_request(
        self,
        name: str,
        response_time: float,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        """Locust ``request`` event listener: records requests of the measured window."""
        end = perf_counter()
        self.seen += 1
        context = context or {}
        send = context.get("athbench_send", end - response_time / 1000.0)
        due = context.get("athbench_due")
        if not self.in_window((due if due is not None else send) - self.t0):
            return
        status = getattr(response, "status_code", None)
        responded = bool(status)
        self.recorder.record(
            name,
            second=int(end - self.t0 - self.window_start),
            uncorrected_us=(end - send) * 1e6 if responded else None,
            corrected_us=(end - due) * 1e6 if responded and due is not None else None,
            error=classify_error(status, exception),
        )

    def finish(self, role: str, index: int, cpu_warning: bool) -> dict[str, Any]:
        """Count what was never sent and return this process' raw result."""
        for offset in self._arrivals:
            if self.in_window(offset):
                self.recorder.scheduled += 1
        if isinstance(self.spec.plan, OpenPlan):
            self.recorder.unsent = max(self.recorder.scheduled - self.sent_in_window, 0)
        self.recorder.incomplete = self.in_flight
        return {
            "recorder": self.recorder.to_dict(),
            "processes": [
                {
                    "role": role,
                    "index": index,
                    "recorded": self.recorder.overall().count,
                    "seen": self.seen,
                    "window_epoch": [self.epoch0 + self.window_start, self.epoch0 + self.window_end],
                    "cpu_warning": cpu_warning,
                    "cpu_affinity": sorted(os.sched_getaffinity(0)),
                    "cpu_percent": {"unit": "%", "t": self.cpu_t, "v": self.cpu_v},
                }
            ],
        }


def make_user_classes(spec: LoadSpec, state: GeneratorState) -> list[type[User]]:
    """The user classes of this phase: from the locustfile, or one class for the endpoint list."""
    if spec.locustfile:
        from locust.util.load_locustfile import load_locustfile

        user_classes, _shapes = load_locustfile(spec.locustfile)
        if not user_classes:
            raise ValueError(f"{spec.locustfile}: defines no User class")
        return list(user_classes.values())

    class _Base(FastHttpUser):
        abstract = True
        host = spec.target_url
        wait_time = constant(0)
        network_timeout = spec.request_timeout_s
        connection_timeout = spec.request_timeout_s

        def _send(self, endpoint: Endpoint, context: dict[str, float]) -> None:
            state.in_flight += 1
            try:
                self.client.request(
                    endpoint.method,
                    endpoint.path,
                    name=endpoint.name,
                    headers=endpoint.headers or None,
                    json=endpoint.json,
                    context=context,
                )
            finally:
                state.in_flight -= 1

    class ScheduledUser(_Base):
        @task
        def scheduled_request(self) -> None:
            slot = state.next_slot()
            if slot is None:
                raise StopUser()
            due, endpoint = slot
            now = perf_counter()
            idle = now < due
            if idle:
                gevent.sleep(due - now)
            send = perf_counter()
            if state.in_window(due - state.t0):
                state.sent_in_window += 1
                record_us(state.recorder.schedule_lag, (send - due) * 1e6)
                if idle:
                    record_us(state.recorder.dispatch_lag, (send - due) * 1e6)
            self._send(endpoint, {"athbench_due": due, "athbench_send": send})

    class ClosedLoopUser(_Base):
        @task
        def closed_request(self) -> None:
            if state.stopping:
                raise StopUser()
            self._send(state.pick(), {"athbench_send": perf_counter()})

    return [ScheduledUser if isinstance(spec.plan, OpenPlan) else ClosedLoopUser]


def monitor_cpu(state: GeneratorState) -> None:
    """Greenlet: this process' CPU use (% of one core) every second, timed from the window start."""
    process = psutil.Process()
    process.cpu_percent(None)
    while True:
        gevent.sleep(CPU_INTERVAL_S)
        state.cpu_t.append(round(perf_counter() - state.t0 - state.window_start, 3))
        state.cpu_v.append(process.cpu_percent(None))


def monitor_loop_lag(state: GeneratorState) -> None:
    """Greenlet: how late a 10 ms sleep wakes up, over the measured window. A generator short of CPU
    (saturated, or starved by other processes) shows it here even when every user is busy."""
    while True:
        before = perf_counter()
        gevent.sleep(LOOP_PROBE_S)
        after = perf_counter()
        if state.in_window(after - state.t0):
            record_us(state.recorder.loop_lag, (after - before - LOOP_PROBE_S) * 1e6)


def start_monitors(state: GeneratorState) -> list[gevent.Greenlet]:
    return [gevent.spawn(monitor_cpu, state), gevent.spawn(monitor_loop_lag, state)]


def drive(state: GeneratorState, runner: Runner) -> None:
    """Wait out warm-up and window, then let in-flight requests finish (bounded by drain_s) and stop."""
    end_at = state.t0 + state.window_end
    gevent.sleep(max(0.0, end_at - perf_counter()))
    state.stopping = True
    deadline = end_at + state.spec.drain_s
    gevent.sleep(0.01)
    while state.in_flight > 0 and perf_counter() < deadline:
        gevent.sleep(0.02)
    runner.stop()


def new_environment(spec: LoadSpec, state: GeneratorState) -> Environment:
    env = Environment(
        user_classes=make_user_classes(spec, state),
        events=locust.events,  # the global hooks, which a locustfile's listeners are registered on
        host=spec.target_url,
        stop_timeout=spec.drain_s if spec.locustfile else None,
    )
    env.events.request.add_listener(state.on_request)
    return env


def spawn_rate(users: int) -> float:
    """Spawn every user at once (Locust's spawn rate is users per second)."""
    return float(max(users, 1) * 100)


def run_local(spec: LoadSpec) -> dict[str, Any]:
    """The whole phase in this one process (Locust's LocalRunner)."""
    state = GeneratorState(spec)
    env = new_environment(spec, state)
    runner = env.create_local_runner()
    state.start()
    monitors = start_monitors(state)
    runner.start(spec.plan.users, spawn_rate=spawn_rate(spec.plan.users))
    drive(state, runner)
    gevent.killall(monitors)
    result = state.finish("local", 0, runner.cpu_warning_emitted)
    runner.quit()
    return result


def run_worker(spec: LoadSpec, master_port: int) -> None:
    """One Locust worker: runs its share of the plan and sends its full recorder to the master."""
    state = GeneratorState(spec)
    env = new_environment(spec, state)
    runner = env.create_worker_runner("127.0.0.1", master_port)

    def on_test_start(**_: Any) -> None:
        index = runner.worker_index
        state.start(share=1.0 / spec.workers, phase=index / spec.workers)
        gevent.spawn(_finish_worker, state, runner, index)

    env.events.test_start.add_listener(on_test_start)
    runner.greenlet.join()


def _finish_worker(state: GeneratorState, runner: Runner, index: int) -> None:
    monitors = start_monitors(state)
    drive(state, runner)
    gevent.killall(monitors)
    runner.send_message("athbench_done", state.finish("worker", index, runner.cpu_warning_emitted))
