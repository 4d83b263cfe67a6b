"""Request templates through the whole load pipeline (endpoint file -> load process(es) -> LoadResult),
sent at a loopback stub that records every path it receives and marks `/item/<even id>` X-Cache: HIT,
odd MISS: what was really sent is known, so spread, hot-set share, reproducibility, disjoint worker
streams and the merged counts are checked against ground truth."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.load.endpoints import Endpoint, endpoints_from_dicts, load_endpoints
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.result import LoadResult
from harness.load.runner import run_load
from harness.load.templates import TemplateError

_ID = re.compile(r"^/item/(\d+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        server: Stub = self.server  # type: ignore[assignment]
        with server.lock:
            server.paths.append(self.path)
        match = _ID.match(self.path)
        self.send_response(200)
        if match:
            self.send_header("X-Cache", "HIT" if int(match.group(1)) % 2 == 0 else "MISS")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Stub(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def ids(self) -> list[int]:
        return [int(m.group(1)) for p in self.paths if (m := _ID.match(p))]


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def endpoint_file(tmp_path: Path, source: str, extra: str = "") -> list[Endpoint]:
    path = tmp_path / "endpoints.toml"
    path.write_text(f'[[endpoint]]\nname = "item"\npath = "/item/{{id}}"\n[endpoint.params]\nid = {source}\n{extra}')
    return load_endpoints(path)


def test_uniform_ids_are_spread_and_histograms_are_keyed_by_template(stub: Stub, tmp_path: Path) -> None:
    endpoints = endpoint_file(tmp_path, '{ dist = "uniform", min = 1, max = 10000000 }')
    load = run_load(stub.url, OpenPlan.constant(200, 3.0, users=8), endpoints=endpoints, warmup_s=0, seed=11)
    ids = stub.ids()  # the open schedule ends with the window: every request sent is one of the window
    n = len(ids)
    assert n >= 200, n
    assert len(set(ids)) >= 0.9 * n
    assert set(load.endpoints) == {"item"}  # one histogram for thousands of URLs
    sent = load.templates["item"]["sent"]["id"]
    assert load.templates["item"]["requests"] == sent["requests"] == n == load.endpoints["item"].count
    assert sent["distinct_values"] == len(set(ids))
    assert load.templates["item"]["sources"] == {"id": {"dist": "uniform", "min": 1, "max": 10_000_000}}
    assert "counts" not in sent  # raw counts are merged, not saved
    assert load.seed == 11


def test_zipf_top_1pct_share_matches_theory_in_paths_and_summary(stub: Stub, tmp_path: Path) -> None:
    endpoints = endpoint_file(tmp_path, '{ dist = "zipf", min = 1, max = 1000, s = 0.99 }')
    load = run_load(stub.url, ClosedPlan(users=4, duration_s=4.0), endpoints=endpoints, warmup_s=0)
    ids = stub.ids()
    assert len(ids) >= 1500, len(ids)  # enough for a share within a few per cent
    theory = endpoints[0].template.sources["id"].zipf_top_share()  # type: ignore[union-attr]
    top = sum(count for _, count in Counter(ids).most_common(10)) / len(ids)  # hottest 1 % of 1,000 values
    assert abs(top - theory) <= 0.1 * theory, (top, theory)
    summary = load.templates["item"]["sent"]["id"]
    assert abs(summary["top_1pct_share"] - theory) <= 0.1 * theory, (summary, theory)
    # the window's requests (closed users send on until told to stop: the stub saw those, the summary not)
    item = load.endpoints["item"]
    assert summary["requests"] == item.count + item.incomplete <= len(ids)
    hottest = [v for v, _ in Counter(ids).most_common(10)]
    assert sorted(hottest) != list(range(1, 11))  # scattered, not the lowest ids


def test_same_seed_sends_the_same_stream_and_another_seed_another(stub: Stub, tmp_path: Path) -> None:
    endpoints = endpoint_file(tmp_path, '{ dist = "uniform", min = 1, max = 1000000000 }')
    expected = endpoints[0].template.stream(seed=5)  # type: ignore[union-attr]
    stream = [expected.next()[0] for _ in range(20_000)]
    run_load(stub.url, OpenPlan.constant(100, 2.0, users=4), endpoints=endpoints, warmup_s=0, seed=5)
    first = list(stub.paths)
    assert len(first) >= 150
    assert set(first) == set(stream[: len(first)])  # the seeded stream's first n values, in send order
    stub.paths.clear()
    run_load(stub.url, OpenPlan.constant(100, 2.0, users=4), endpoints=endpoints, warmup_s=0, seed=6)
    assert not set(stub.paths) & set(first)


def test_two_workers_draw_disjoint_streams_and_merge_counts_and_the_cache_split(stub: Stub, tmp_path: Path) -> None:
    endpoints = endpoint_file(
        tmp_path,
        '{ dist = "sequence", min = 1, max = 1000000 }',
        '\n[[endpoint]]\nname = "fixed"\npath = "/fixed"\n',
    )
    plan = OpenPlan.constant(200, 3.0, users=8)
    load = run_load(stub.url, plan, endpoints=endpoints, warmup_s=0, workers=2)
    assert len(load.processes) == 2
    ids = stub.ids()
    assert len(ids) >= 100
    assert len(set(ids)) == len(ids)  # worker k sends k+1, k+3, ...: no value twice
    assert {i % 2 for i in ids} == {0, 1}  # both workers sent
    summary = load.templates["item"]
    assert summary["requests"] == summary["sent"]["id"]["distinct_values"] == len(ids)
    item = load.endpoints["item"]
    evens = sum(1 for i in ids if i % 2 == 0)
    assert set(item.by_cache) == {"HIT", "MISS"}
    assert (item.by_cache["HIT"].count, item.by_cache["MISS"].count) == (evens, len(ids) - evens)
    assert item.cache_hit_ratio == pytest.approx(evens / len(ids))
    assert item.by_cache["HIT"].latency_ms("p95") is not None
    assert load.endpoints["fixed"].by_cache == {}  # no header, no split
    assert load.endpoints["fixed"].count == stub.paths.count("/fixed") > 0
    assert load.overall.by_cache["HIT"].count == evens
    assert load.traffic()["cache"]["endpoints"]["item"]["hit"]["count"] == evens
    assert LoadResult.from_dict(load.to_dict()) == load  # the split survives the results file


def test_fixed_path_endpoint_files_still_work(stub: Stub, tmp_path: Path) -> None:
    path = tmp_path / "fixed.toml"
    path.write_text('[[endpoint]]\npath = "/a"\nweight = 3\n\n[[endpoint]]\nname = "b"\npath = "/b?x=1"\n')
    endpoints = load_endpoints(path)
    assert [e.template for e in endpoints] == [None, None]
    load = run_load(stub.url, OpenPlan.constant(40, 1.5, users=4), endpoints=endpoints, warmup_s=0)
    assert set(load.endpoints) == {"GET /a", "b"}
    assert set(stub.paths) == {"/a", "/b?x=1"}
    assert load.templates == {}


def test_endpoints_round_trip_as_dicts_with_params_and_absolute_csv_paths(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ids.csv").write_text("id\n4\n5\n")
    path = tmp_path / "e.toml"
    path.write_text(
        '[[endpoint]]\nname = "p"\nmethod = "POST"\npath = "/p/{id}"\njson = { who = "{who}" }\n'
        '[endpoint.params]\nid = { csv = "data/ids.csv" }\nwho = { choice = ["a", "b"], weights = [1, 3] }\n'
    )
    (endpoint,) = load_endpoints(path)
    shipped = endpoint.to_dict()
    assert shipped["params"]["id"]["csv"] == str((tmp_path / "data" / "ids.csv").resolve())
    (back,) = endpoints_from_dicts([shipped])
    assert back == endpoint and back.template is not None
    assert back.template.stream(seed=1).next()[0] in ("/p/4", "/p/5")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ('id = { dist = "gauss", min = 1, max = 9 }', "unknown distribution 'gauss'"),
        ('id = { dist = "uniform", min = 9, max = 1 }', "min (9) > max (1)"),
        ('other = { dist = "uniform", min = 1, max = 9 }', "placeholder(s) ['id'] have no source"),
        ('id = { dist = "uniform", min = 1, max = 9 }\nx = { choice = [1] }', "source(s) ['x'] are used by no"),
        ('id = { csv = "nope.csv" }', "nope.csv not found"),
        ('id = { csv = "ids.csv", column = "pk" }', "has no column 'pk'"),
    ],
)
def test_bad_template_files_fail_naming_file_endpoint_and_problem(tmp_path: Path, params: str, problem: str) -> None:
    (tmp_path / "ids.csv").write_text("id\n1\n")
    path = tmp_path / "bad.toml"
    path.write_text(f'[[endpoint]]\nname = "ok"\npath = "/ok"\n\n[[endpoint]]\nname = "item"\npath = "/i/{{id}}"\n'
                    f"[endpoint.params]\n{params}\n")  # fmt: skip
    with pytest.raises(TemplateError) as err:
        load_endpoints(path)
    message = str(err.value)
    assert str(path) in message and "endpoint 'item'" in message and problem in message


def test_a_placeholder_without_params_fails_too(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[endpoint]]\nname = "item"\npath = "/i/{id}"\n')
    with pytest.raises(TemplateError, match=r"bad.toml: endpoint 'item': placeholder\(s\) \['id'\] have no source"):
        load_endpoints(path)


def test_the_cli_refuses_a_bad_template_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[endpoint]]\nname = "item"\npath = "/i/{id}"\n[endpoint.params]\nid = { dist = "pareto" }\n')
    done = subprocess.run(
        [sys.executable, "-m", "harness", "assess", "--target", "http://127.0.0.1:9", "--endpoints", str(path),
         "--output", str(tmp_path / "out"), "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    text = " ".join((done.stdout + done.stderr).split())
    assert "endpoint 'item'" in text and "unknown distribution 'pareto'" in text and "bad.toml" in text
    assert not (tmp_path / "out").exists()  # nothing started, nothing written
