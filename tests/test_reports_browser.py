"""The HTML report in headless Chromium (driven over the DevTools protocol on 127.0.0.1):
no console messages, no network requests, the grades table and every chart drawn."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reports_fixtures import build_run
from websockets.sync.client import connect

from reports.render import build, render_html

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing Chromium itself tries can leave the machine
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1200,900",
]
PROFILE_COLOURS = ((0xC0, 0x50, 0x4D), (0x4F, 0x81, 0xBD))  # baseline, optimized in every chart
BOXES_JS = """JSON.stringify({
  charts: [...document.querySelectorAll('.chart svg')].map(e => e.getBoundingClientRect())
          .map(r => [r.left + scrollX, r.top + scrollY, r.width, r.height]),
  grades: (r => [r.left + scrollX, r.top + scrollY, r.width, r.height])(
          document.getElementById('grades').getBoundingClientRect()),
  badges: document.querySelectorAll('#grades .grade').length,
})"""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)")


class DevTools:
    """A minimal DevTools-protocol client for one page: commands and the events seen meanwhile."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self._id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))


@pytest.fixture
def chromium(tmp_path: Path):
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert proc.poll() is None and time.monotonic() < deadline, "Chromium did not start"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        deadline = time.monotonic() + 30
        while True:
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
            pages = [t for t in targets if t.get("type") == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=20) as ws:
            yield DevTools(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _image(client: DevTools, box: list[float]) -> np.ndarray:
    x, y, w, h = box
    shot = client.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": x, "y": y, "width": w, "height": h, "scale": 1},
    )
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))


def _has(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 30) -> int:
    return int(np.all(np.abs(pixels.astype(int) - np.array(colour)) <= tolerance, axis=-1).sum())


def open_quietly(client: DevTools, page: Path, expression: str) -> Any:
    """Open `page`, check it made no network request and logged nothing, and return `expression`'s JSON."""
    for domain in ("Page", "Network", "Runtime", "Log"):
        client.call(f"{domain}.enable")
    client.call("Page.navigate", url=page.as_uri())
    client.wait_for("Page.loadEventFired")
    value = json.loads(client.call("Runtime.evaluate", expression=expression)["result"]["value"])
    requests = [
        e["params"]["request"]["url"]
        for e in client.events
        if e.get("method") == "Network.requestWillBeSent" and not e["params"]["request"]["url"].startswith("file:")
    ]
    assert requests == []
    console = [
        e["params"]
        for e in client.events
        if e.get("method") in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")
    ]
    assert console == []
    return value


def test_report_opens_without_console_messages_or_requests_and_draws_grades_and_charts(chromium, tmp_path):
    report = build(build_run())
    page = tmp_path / "report.html"
    page.write_text(render_html(report))
    boxes = open_quietly(chromium, page, BOXES_JS)

    assert len(boxes["charts"]) == len(report.charts) == 9
    assert boxes["badges"] >= 14  # one letter per profile for each of the seven original benchmark rows
    grades = _image(chromium, boxes["grades"])
    assert _has(grades, (0x2E, 0x7D, 0x32)) > 500  # green A badges drawn
    for box in boxes["charts"]:
        assert box[2] > 300 and box[3] > 150, box
        pixels = _image(chromium, box)
        inked = (pixels < 200).any(axis=-1).mean()
        assert inked > 0.02, f"chart at {box} looks empty"
        assert max(_has(pixels, colour) for colour in PROFILE_COLOURS) > 50, f"chart at {box} has no data drawn"
    full = chromium.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    (tmp_path / "report.png").write_bytes(base64.b64decode(full["data"]))
