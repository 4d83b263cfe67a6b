"""The Locust side of a load phase: users, the request listener, the per-process run.

Imported only inside the load process (`harness.load.worker`), which has gevent's monkey-patching
applied before anything else; the harness itself never imports this module.

Open model: every user repeatedly takes the next slot of the shared schedule (its due time and
endpoint), sleeps until it is due, sends, and records. A slot taken after it was already due means
every user was busy (the lateness is the *schedule lag*); a user that was idle but woke late shows
the generator's own lateness (*dispatch lag*). Closed model: every user sends back to back.

Every request due in the measured window counts (`GeneratorState.settle`, at the end of the drain):
one still waiting to be sent, or never taken from the schedule, is *unsent*; one sent but unanswered is
*incomplete*; both enter the corrected histogram at (drain end - due time). A timed-out request enters
it at max(timeout, time waited since due). See `harness.load.recorder`.

Request templates: each templated endpoint gets one `TemplateStream` per load process, seeded by the
spec's ``seed``, the worker index and the worker count (disjoint streams; same seed, same requests), and
each request fills it when it is sent. Streams count what they send from the first request of the
measured window on; `GeneratorState.finish` returns each stream's summary with its counts, merged
exactly in `harness.load.result`. Responses' ``X-Cache`` status goes to the recorder's split.
"""

from __future__ import annotations

import itertools
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
from harness.load.recorder import Recorder, cache_status, classify_error, record_us
from harness.load.spec import LoadSpec
from harness.load.templates import TemplateStream

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
        self.settled = False
        self.in_flight = 0  # every request in flight (warm-up included), for the drain
        # requests of the measured window not yet finished: token -> [due (None: closed model), endpoint, sent]
        self.pending: dict[int, list[Any]] = {}
        self._tokens = itertools.count()
        self.seen = 0
        self.cpu_t: list[float] = []
        self.cpu_v: list[float] = []
        self._arrivals: Any = iter(())
        endpoints = list(spec.endpoints)
        self._endpoints = endpoints
        self._weights = [e.weight for e in endpoints]
        self._rng = random.Random(0)
        self.streams: dict[str, TemplateStream] = {}
        self._counting: set[str] = set()  # streams counting what they send (the window has begun)

    def start(self, share: float = 1.0, phase: float = 0.0, worker: int = 0) -> None:
        """Fix the run's origin; the open schedule (this process' share of it) starts a moment later.
        ``worker`` (of ``spec.workers``) picks this process' request-template streams."""
        self.streams = {
            e.name: e.template.stream(self.spec.seed, worker, self.spec.workers)
            for e in self._endpoints
            if e.template is not None
        }
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

    def request(self, endpoint: Endpoint, offset: float) -> tuple[str, dict[str, str] | None, Any]:
        """(path, headers, json body) of the next request to ``endpoint``, due (or, closed model, sent) at
        ``offset`` s from t0: its template filled, or as is. The stream counts the requests of the window."""
        stream = self.streams.get(endpoint.name)
        if stream is None:
            return endpoint.path, endpoint.headers or None, endpoint.json
        if self.in_window(offset):
            if endpoint.name not in self._counting:
                stream.begin_counting()
                self._counting.add(endpoint.name)
        elif offset >= self.window_end:
            stream.end_counting()
        path, headers, body = stream.next()
        return path, headers or None, body

    def in_window(self, offset: float) -> bool:
        return self.window_start <= offset < self.window_end

    def next_slot(self) -> tuple[float, Endpoint, int | None] | None:
        """Due time (perf_counter), endpoint and token (None outside the window) of the next scheduled
        request, None once the run is over."""
        if self.stopping or perf_counter() - self.t0 >= self.window_end:
            return None
        offset = next(self._arrivals, None)
        if offset is None:
            return None
        due, endpoint = self.t0 + offset, self.pick()
        token = None
        if self.in_window(offset):
            self.recorder.scheduled += 1
            token = self.track(due, endpoint.name, sent=False)
        return due, endpoint, token

    def track(self, due: float | None, name: str, sent: bool) -> int:
        """Register a request of the measured window until it finishes or is settled."""
        token = next(self._tokens)
        self.pending[token] = [due, name, sent]
        return token

    def settle(self) -> None:
        """At the end of the drain: every request of the window that has not finished enters the
        corrected histogram at its lower bound, drain end - due time (unsent, or incomplete if sent);
        under the closed model they are counted only. Their late answers, if any, are then ignored."""
        drain_end = perf_counter()
        self.settled = True
        for due, name, sent in self.pending.values():
            lower_bound = (drain_end - due) * 1e6 if due is not None else None
            self.recorder.record_unfinished(name, "incomplete" if sent else "unsent", lower_bound)
        self.pending.clear()
        for offset in self._arrivals:  # never taken from the schedule: every user was busy
            if self.in_window(offset):
                self.recorder.scheduled += 1
                self.recorder.record_unfinished(self.pick().name, "unsent", (drain_end - self.t0 - offset) * 1e6)

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
        token = context.get("athbench_token")
        if token is not None:
            if self.pending.pop(token, None) is None:
                return  # already settled as incomplete at the drain's end
        elif self.settled or not self.in_window((due if due is not None else send) - self.t0):
            return  # a locustfile's request after the drain, or outside the window
        status = getattr(response, "status_code", None)
        error = classify_error(status, exception)
        timed_out = error == "timeout"
        corrected_us = None
        if due is not None and timed_out:  # at least as slow as the timeout, and as the time it waited
            corrected_us = max(end - due, self.spec.request_timeout_s) * 1e6
        elif due is not None and status:
            corrected_us = (end - due) * 1e6
        self.recorder.record(
            name,
            second=int(end - self.t0 - self.window_start),
            uncorrected_us=(end - send) * 1e6 if status else None,
            corrected_us=corrected_us,
            error=error,
            timed_out=timed_out,
            cache=cache_status(response) if status else None,
        )

    def finish(self, role: str, index: int, cpu_warning: bool) -> dict[str, Any]:
        """This process' raw result (after `settle`)."""
        if not self.settled:
            self.settle()
        for name in set(self.streams) - self._counting:  # sent nothing in the window: count nothing
            self.streams[name].begin_counting()
            self.streams[name].end_counting()
        return {
            "recorder": self.recorder.to_dict(),
            "templates": [{name: s.summary(with_counts=True) for name, s in sorted(self.streams.items())}],
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

        def _send(self, endpoint: Endpoint, context: dict[str, Any]) -> None:
            path, headers, body = state.request(
                endpoint, context.get("athbench_due", context["athbench_send"]) - state.t0
            )
            state.in_flight += 1
            try:
                self.client.request(
                    endpoint.method, path, name=endpoint.name, headers=headers, json=body, context=context
                )
            finally:
                state.in_flight -= 1

    class ScheduledUser(_Base):
        @task
        def scheduled_request(self) -> None:
            slot = state.next_slot()
            if slot is None:
                raise StopUser()
            due, endpoint, token = slot
            now = perf_counter()
            idle = now < due
            if idle:
                gevent.sleep(due - now)
            if token is not None:
                if token not in state.pending:
                    raise StopUser()  # settled as unsent meanwhile
                state.pending[token][2] = True
            send = perf_counter()
            if token is not None:
                record_us(state.recorder.schedule_lag, (send - due) * 1e6)
                if idle:
                    record_us(state.recorder.dispatch_lag, (send - due) * 1e6)
            self._send(endpoint, {"athbench_due": due, "athbench_send": send, "athbench_token": token})

    class ClosedLoopUser(_Base):
        @task
        def closed_request(self) -> None:
            if state.stopping:
                raise StopUser()
            endpoint, send = state.pick(), perf_counter()
            token = state.track(None, endpoint.name, sent=True) if state.in_window(send - state.t0) else None
            self._send(endpoint, {"athbench_send": send, "athbench_token": token})

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
    """Wait out warm-up and window, let in-flight requests finish (bounded by drain_s), settle what is
    left (`GeneratorState.settle`) and stop the users."""
    end_at = state.t0 + state.window_end
    gevent.sleep(max(0.0, end_at - perf_counter()))
    state.stopping = True
    deadline = end_at + state.spec.drain_s
    gevent.sleep(0.01)
    while state.in_flight > 0 and perf_counter() < deadline:
        gevent.sleep(0.02)
    state.settle()
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
