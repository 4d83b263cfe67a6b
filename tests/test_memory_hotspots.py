"""Memory hotspots: a deliberate leak in a real child service is named by file and line, in the results
and in the report (memory area, Markdown, findings)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from reports_fixtures import build_run

from harness.packs import load_pack
from harness.results import read, save
from reports.findings import allocation_sites, find
from reports.grading import grade
from reports.render import build, render_html, render_markdown
from scenarios.memory_footprint import take_snapshots, top_sites, tracing_env

LEAKY_SERVICE = '''"""A test service with a deliberate leak: every request keeps 8 KB in a module-level list."""
import asyncio

LEAKED = []
RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"


async def handle(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\\r\\n\\r\\n")
            LEAKED.append(bytearray(8192))  # the leak
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
'''
LEAK_LINE = next(i for i, line in enumerate(LEAKY_SERVICE.splitlines(), 1) if "# the leak" in line)


@pytest.fixture
def leaky_service(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path, Path]]:
    """The leaky service started with the tracemalloc hook memory_footprint gives the real service."""
    script = tmp_path / "leaky_service.py"
    script.write_text(LEAKY_SERVICE)
    snapshots = tmp_path / "snapshots"
    env = {**os.environ, **tracing_env(tmp_path / "hook", snapshots)}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield process, port, script, snapshots
    finally:
        process.kill()
        process.wait(timeout=10)


def _requests(port: int, stop: threading.Event) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        connection.request("GET", "/")
        connection.getresponse().read()
    connection.close()


def test_a_leak_is_named_by_file_and_line_in_results_report_and_findings(leaky_service, tmp_path: Path) -> None:
    process, port, script, snapshots = leaky_service
    stop = threading.Event()
    load = threading.Thread(target=_requests, args=(port, stop))
    load.start()
    try:
        _, middle, end = take_snapshots(process.pid, snapshots, interval_s=2.0, start_delay_s=0.3)
    finally:
        stop.set()
        load.join()
    sites = top_sites(middle, end, growth_window_s=1.0)
    first = sites[0]
    assert (first["file"], first["line"]) == (str(script), LEAK_LINE), sites[:3]
    assert first["code"] == "LEAKED.append(bytearray(8192))  # the leak"
    assert first["growth_kb"] > 0 and first["size_kb"] >= first["growth_kb"]
    assert first["size_kb"] == max(s["size_kb"] for s in sites)

    # into a results file as memory_footprint records it, read back, and rendered
    run = build_run(profiles=("optimized",))
    scenario = next(s for s in run.scenarios if s.name == "memory_footprint")
    scenario.details["allocation_sites"] = {
        "method": "tracemalloc (12 frames) started under load, snapshots half-way and at the end",
        "interval_s": 2.0,
        "growth_window_s": 1.0,
        "load_errors": [],
        "top": sites,
    }
    report = build(read(save(run, tmp_path / "results.json")), with_charts=False)
    site = f"{script}:{LEAK_LINE}"
    html, markdown = render_html(report), render_markdown(report)
    memory_area = html[html.index("Memory Management</h3>") : html.index('<h2 id="scalability">')]
    assert 'id="memory-hotspots-optimized"' in memory_area and f"<code>{site}</code>" in memory_area
    assert f"`{site}`" in markdown and "### Memory hotspots" in markdown
    hotspot = next(f for f in report.findings["optimized"] if f.area == "memory")
    assert (hotspot.locations[0].file, hotspot.locations[0].line) == (str(script), LEAK_LINE)
    assert f"`{hotspot.locations[0].file}:{hotspot.locations[0].line}`" in markdown  # the Bottlenecks list


@pytest.mark.parametrize(("pack", "snapshots"), [("quick", False), ("nightly", True), ("release", True)])
def test_nightly_and_release_take_the_snapshots(pack: str, snapshots: bool) -> None:
    entry = next(e for e in load_pack(pack).entries if e.scenario.name == "memory_footprint")
    assert (entry.params["allocation_sites_s"] > 0) is snapshots


def test_sites_recorded_before_growth_was_split_out_still_render() -> None:
    run = build_run(profiles=("optimized",))
    scenario = next(s for s in run.scenarios if s.name == "memory_footprint")
    old = {"file": "collections/__init__.py", "line": 7, "project_frame": "system_under_test/app.py:42"}
    scenario.details["allocation_sites"] = {
        "method": "tracemalloc",
        "interval_s": 20.0,
        "top": [{**old, "size_kb": 3000.0, "size_diff_kb": 3000.0, "count_diff": 5}],
    }
    sites = allocation_sites(run, "optimized")
    assert sites is not None and sites["top"][0]["growth_kb_per_min"] == pytest.approx(9000.0)
    finding = next(f for f in find(run, grade(run, "optimized")) if f.area == "memory")
    assert [(loc.file, loc.line) for loc in finding.locations] == [
        ("collections/__init__.py", 7),
        ("system_under_test/app.py", 42),
    ]
