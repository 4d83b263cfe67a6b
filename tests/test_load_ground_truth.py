"""Ground truth for the load pipeline: real Locust load processes against a small loopback HTTP server
whose delays, stalls and hangs the test controls, so the expected percentiles are known in advance."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.recorder import decode
from harness.load.runner import run_load
from tests.load_support import kept_up

FAST = Endpoint("/fast", name="fast")
HANG = Endpoint("/hang", name="hang")
HOLD_LIMIT_S = 30.0  # a held request is released at the latest after this (and at teardown)


@dataclass
class Behaviour:
    """What the server does; set by the test before the load phase."""

    delay_s: float = 0.0  # every request
    stall_after: int | None = None  # the request with this number (1-based) starts a stall ...
    stall_s: float = 0.0  # ... of this length: every request that arrives during it waits until its end
    hold_after: int | None = None  # requests after this number are held until released (never answered)
    seen: int = 0
    stall_until: float = 0.0
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Locust's users expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK wait

    def do_GET(self) -> None:
        behaviour: Behaviour = self.server.behaviour  # type: ignore[attr-defined]
        with behaviour.lock:
            behaviour.seen += 1
            number = behaviour.seen
            if behaviour.stall_after is not None and number == behaviour.stall_after:
                behaviour.stall_until = time.monotonic() + behaviour.stall_s
            wait = max(behaviour.stall_until - time.monotonic(), 0.0)
        hold = self.path == HANG.path or (behaviour.hold_after is not None and number > behaviour.hold_after)
        if hold:
            behaviour.release.wait(HOLD_LIMIT_S)
            self.close_connection = True
            return  # no answer
        time.sleep(wait + behaviour.delay_s)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and closed its connection is expected here


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    httpd = Server(("127.0.0.1", 0), Handler)
    behaviour = Behaviour()
    httpd.behaviour = behaviour  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", behaviour
    finally:
        behaviour.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_fixed_delay_gives_a_known_p50(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    behaviour.delay_s = 0.020
    result = kept_up(lambda: run_load(url, OpenPlan.constant(25, 2.0, users=10), endpoints=[FAST], warmup_s=0.5))
    assert result.valid, result.invalid_reason
    assert result.overall.count == 50
    assert 20.0 <= result.overall.latency_ms("p50") <= 40.0  # type: ignore[operator]
    assert 20.0 <= result.overall.uncorrected["p50_ms"] <= 40.0  # type: ignore[index]
    assert not result.lower_bound


def test_one_second_stall_gives_a_corrected_p99_near_one_second(server: tuple[str, Behaviour]) -> None:
    """100 req/s for 10 s; 1 s stall 3 s into the window: the 100 requests due during it wait 0-1 s,
    so the top 1 % of 1,000 waited 0.9-1 s. Four connections carry the schedule (as wrk2 would), so
    only the 4 requests in flight during the stall see it uncorrected."""
    url, behaviour = server
    warmup = 0.5
    behaviour.stall_after, behaviour.stall_s = int(100 * (warmup + 3.0)), 1.0
    result = run_load(url, OpenPlan.constant(100, 10.0, users=4), endpoints=[FAST], warmup_s=warmup)
    assert behaviour.stall_until > 0, "the stall never started"
    corrected, uncorrected = result.overall.corrected, result.overall.uncorrected
    assert corrected is not None and uncorrected is not None
    assert result.overall.count == 1000 and result.overall.error_count == 0
    assert 850.0 <= corrected["p99_ms"] <= 1150.0
    assert corrected["p50_ms"] < 100.0  # most requests were not due during the stall
    assert uncorrected["p99_ms"] < 100.0 < 850.0 <= uncorrected["max_ms"]
    assert result.valid, result.invalid_reason  # the generator kept up; the server stalled
    assert not result.lower_bound  # every request was answered: the figures are exact


def test_a_stall_beyond_the_drain_counts_unsent_and_incomplete(server: tuple[str, Behaviour]) -> None:
    """50 req/s for 2 s on 5 connections; from 1 s into the window the server holds every request:
    5 are in flight at the drain's end, the other ~45 of the window are never sent. They enter the
    corrected histogram at drain end - due time (>= the 0.5 s drain), so the p90 is at least 0.5 s,
    where leaving them out (the answered requests) gives a few ms."""
    url, behaviour = server
    warmup = 0.5
    behaviour.hold_after = int(50 * (warmup + 1.0))
    result = run_load(
        url, OpenPlan.constant(50, 2.0, users=5), endpoints=[FAST], warmup_s=warmup, drain_s=0.5, request_timeout_s=20
    )
    overall = result.overall
    assert result.validity["scheduled"] == 100
    assert overall.incomplete == 5 and overall.unsent == 45 and overall.count == 50
    assert decode(overall.histograms["corrected"]).get_total_count() == 100
    assert overall.uncorrected is not None and overall.uncorrected["p90_ms"] < 100.0
    assert overall.latency_ms("p90") >= 500.0  # type: ignore[operator]
    assert overall.latency_ms("p50") < overall.latency_ms("p90")  # type: ignore[operator]
    assert result.lower_bound and overall.lower_bound
    assert result.validity["limited_by"] == "backlog" and not result.valid


def test_two_workers_count_every_request_exactly(server: tuple[str, Behaviour]) -> None:
    url, behaviour = server
    warmup = 0.5
    behaviour.hold_after = int(50 * (warmup + 1.0))
    result = run_load(
        url,
        OpenPlan.constant(50, 2.0, users=6),
        endpoints=[FAST],
        warmup_s=warmup,
        drain_s=0.5,
        request_timeout_s=20,
        workers=2,
    )
    overall = result.overall
    assert [p["role"] for p in result.processes] == ["worker", "worker"]
    assert result.validity["scheduled"] == 100
    assert overall.count + overall.unsent + overall.incomplete == 100
    assert overall.incomplete == 6 and overall.unsent > 30  # every connection is held
    assert decode(overall.histograms["corrected"]).get_total_count() == 100
    assert overall.latency_ms("p90") >= 500.0  # type: ignore[operator]
    assert result.lower_bound


def test_never_answered_and_timed_out_requests_raise_the_percentiles(server: tuple[str, Behaviour]) -> None:
    """A tenth of the requests go to a path that never answers; with a 0.3 s timeout they time out and
    enter the corrected histogram at >= 0.3 s; the answered requests alone have a p95 of a few ms."""
    url, _behaviour = server
    hang = Endpoint(HANG.path, name="hang", weight=1)
    fast = Endpoint(FAST.path, name="fast", weight=9)
    result = run_load(
        url, OpenPlan.constant(50, 2.0, users=20), endpoints=[fast, hang], warmup_s=0.5, request_timeout_s=0.3
    )
    overall = result.overall
    assert overall.timed_out == overall.errors.get("timeout", 0) == result.endpoints["hang"].count > 0
    assert overall.uncorrected is not None and overall.uncorrected["p95_ms"] < 100.0  # answered only
    assert overall.latency_ms("p95") >= 300.0  # type: ignore[operator]
    assert result.endpoints["hang"].latency_ms("p50") >= 300.0  # type: ignore[operator]
    assert result.lower_bound and result.endpoints["hang"].lower_bound
    assert not result.endpoints["fast"].lower_bound  # its own figures include no timeout
    assert result.valid, result.invalid_reason  # timeouts are errors, not a backlog
