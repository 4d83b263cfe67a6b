"""Sampling profiles of a running process with py-spy: speedscope JSON, a flame graph SVG, hot frames.

`record()` runs ``py-spy record --idle --format speedscope`` against a PID for a duration and draws a
flame graph SVG from the same samples. `hot_frames()` reads a speedscope file and ranks frames by the
share of *busy* samples (a thread running Python code rather than waiting in a selector, a lock or a
queue). For event-loop threads it also measures how long a frame held the loop: a run of consecutive busy
samples of one callback is one uninterrupted hold; the innermost frame in at least 90 % of its
samples is the call that held it (``longest_hold_ms``), and ``caller`` is the nearest project frame (not stdlib, not
site-packages) beneath it. A blocking ``psutil.cpu_percent(interval=1)`` on the loop shows up as a
hold of about 1000 ms; a non-blocking call as about 0 ms.
"""

from __future__ import annotations

import html
import json
import subprocess
import threading
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.results import ScenarioResult
from harness.tools import find_tool

DEFAULT_RATE_HZ = 100
PROJECT_ROOT = str(Path(__file__).resolve().parents[1]) + "/"
DOMINANT_SHARE = 0.9  # share of a run's samples a frame must be in to be the call that held the loop
MIN_REPORTED_HOLD_MS = 10.0  # holds this long are listed whatever their share
LIBRARY_MARKERS = ("site-packages/", "dist-packages/", "/lib/python3")
LOOP_MARKERS = ("asyncio/base_events.py", "asyncio/runners.py", "uvloop/")
IDLE_LEAF_FILES = ("selectors.py", "threading.py", "queue.py", "concurrent/futures/thread.py", "socket.py")


class ProfilingError(RuntimeError):
    """py-spy is missing, cannot attach, or wrote no profile."""


@dataclass(frozen=True)
class ProfileArtifacts:
    speedscope: Path
    flamegraph: Path
    samples: int


@dataclass(frozen=True)
class CodeLocation:
    function: str
    file: str
    line: int


@dataclass(frozen=True)
class Frame:
    """A frame's share of busy samples and its longest uninterrupted hold of an event loop."""

    function: str
    file: str
    line: int
    self_fraction: float
    total_fraction: float
    longest_hold_ms: float = 0.0
    caller: CodeLocation | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as scenarios store it in ``details["hot_frames"]``."""
        return asdict(self)


def record(
    pid: int, duration_s: float, out_dir: Path | str, *, name: str = "profile", rate_hz: int = DEFAULT_RATE_HZ
) -> ProfileArtifacts:
    """Profile process ``pid`` for ``duration_s`` seconds; write ``NAME.speedscope.json`` and ``NAME.svg``."""
    exe = find_tool("py-spy")
    if exe is None:
        raise ProfilingError("py-spy is not installed (pip install py-spy)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    speedscope = out / f"{name}.speedscope.json"
    seconds = max(1, round(duration_s))
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate_hz)]
    cmd += ["--idle", "--format", "speedscope", "--output", str(speedscope)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ProfilingError(f"py-spy did not finish within {seconds + 60} s") from exc
    if proc.returncode != 0 or not speedscope.exists():
        detail = (proc.stderr or proc.stdout).strip()[-500:]
        raise ProfilingError(f"py-spy could not profile PID {pid} (exit {proc.returncode}): {detail}")
    profile = _load(speedscope)
    flamegraph = out / f"{name}.svg"
    flamegraph.write_text(flamegraph_svg(profile, title=f"{name} (PID {pid}, {seconds} s, {rate_hz} Hz)"))
    return ProfileArtifacts(speedscope, flamegraph, sum(len(t.stacks) for t in profile))


@dataclass
class _Thread:
    name: str
    stacks: list[tuple[int, ...]]  # frame indices, root first
    weights: list[float]  # seconds per sample


@dataclass
class _Profile:
    frames: list[dict[str, Any]]
    threads: list[_Thread]

    def __iter__(self):
        return iter(self.threads)


def _load(path: Path | str) -> _Profile:
    try:
        raw = json.loads(Path(path).read_text())
        frames = raw["shared"]["frames"]
        threads = []
        for p in raw["profiles"]:
            if p.get("type") != "sampled":
                continue
            weights = p.get("weights") or [1.0] * len(p["samples"])
            if p.get("unit") in ("milliseconds", "ms"):
                weights = [w / 1000.0 for w in weights]
            threads.append(_Thread(str(p.get("name", "")), [tuple(s) for s in p["samples"]], list(weights)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProfilingError(f"{path}: not a readable speedscope profile: {exc}") from exc
    return _Profile(frames, threads)


def _is_library(file: str) -> bool:
    return any(marker in file for marker in LIBRARY_MARKERS)


def short_path(file: str) -> str:
    """Path relative to site-packages, the stdlib or this project (wherever athbench was started from)."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in file:
            return file.split(marker, 1)[1]
    if "/lib/python3" in file:
        return file.split("/lib/python3", 1)[1].split("/", 1)[-1]
    for root in (PROJECT_ROOT, str(Path.cwd()) + "/"):
        if file.startswith(root):
            return file[len(root) :]
    return file


def qualified_name(function: str, file: str) -> str:
    """``psutil/__init__.py`` + ``cpu_percent`` -> ``psutil.cpu_percent``."""
    path = short_path(file)
    if not path.endswith(".py") or path.startswith("/"):
        return function
    module = path[:-3].replace("/", ".").removesuffix(".__init__")
    return f"{module}.{function}"


def _location(frame: dict[str, Any]) -> CodeLocation:
    file = str(frame.get("file") or "")
    return CodeLocation(qualified_name(str(frame["name"]), file), short_path(file), int(frame.get("line") or 0))


def _is_idle(stack: tuple[int, ...], frames: list[dict[str, Any]], loop_thread: bool) -> bool:
    if not stack:
        return True
    leaf = str(frames[stack[-1]].get("file") or "")
    if loop_thread and any(marker in leaf for marker in LOOP_MARKERS):
        return True
    return leaf.endswith(IDLE_LEAF_FILES)


def _dominant_path(stacks: list[tuple[int, ...]], share: float = DOMINANT_SHARE) -> list[int]:
    """Frames, root first, present at the same depth in at least ``share`` of the stacks.

    A blocking call's samples mostly end in the same frame and line; a few catch it on another line
    (before or after the wait), which a strict common prefix would let shorten the path.
    """
    path: list[int] = []
    matching = stacks
    depth = 0
    while True:
        counts = Counter(s[depth] for s in matching if len(s) > depth)
        if not counts:
            return path
        index, count = counts.most_common(1)[0]
        if count < share * len(stacks):
            return path
        path.append(index)
        matching = [s for s in matching if len(s) > depth and s[depth] == index]
        depth += 1


def _is_machinery(frame: dict[str, Any]) -> bool:
    file = str(frame.get("file") or "")
    return any(marker in file for marker in LOOP_MARKERS) or file.endswith("asyncio/events.py")


def _task_entry(stack: tuple[int, ...], frames: list[dict[str, Any]]) -> int | None:
    """The outermost frame above the event loop's own frames: the callback or task being run."""
    inner = max((n for n, index in enumerate(stack) if _is_machinery(frames[index])), default=None)
    if inner is None or inner + 1 >= len(stack):
        return None
    return stack[inner + 1]


def _holds(thread: _Thread, frames: list[dict[str, Any]]) -> dict[int, tuple[float, int | None]]:
    """Per frame index: longest hold (s) as the innermost dominant frame of a busy run, and its caller.

    A run is consecutive busy samples of one callback: it ends at an idle sample or when the callback
    frame (the frame just above the loop's own, with its line) changes, i.e. the loop ran something else.
    """
    best: dict[int, tuple[float, int | None]] = {}
    run: list[tuple[int, ...]] = []
    entry: int | None = None
    seconds = 0.0

    def close() -> None:
        if not run:
            return
        prefix = _dominant_path(run)
        if prefix and not _is_machinery(frames[prefix[-1]]):
            holder = prefix[-1]
            if seconds > best.get(holder, (0.0, None))[0]:
                caller = next((i for i in reversed(prefix[:-1]) if not _is_library(str(frames[i].get("file")))), None)
                if not _is_library(str(frames[holder].get("file"))):
                    caller = None
                best[holder] = (seconds, caller)

    for stack, weight in zip(thread.stacks, thread.weights, strict=True):
        busy = not _is_idle(stack, frames, loop_thread=True)
        current = _task_entry(stack, frames) if busy else None
        if not busy or current != entry:
            close()
            run, seconds = [], 0.0
        entry = current
        if busy:
            run.append(stack)
            seconds += weight
    close()
    return best


def hot_frames(speedscope_path: Path | str, limit: int = 30) -> list[Frame]:
    """The ``limit`` frames with the largest share of busy samples, plus every frame that held an event loop
    for at least ``MIN_REPORTED_HOLD_MS``, ranked by share."""
    profile = _load(speedscope_path)
    frames = profile.frames
    total: Counter[int] = Counter()
    self_: Counter[int] = Counter()
    busy = 0
    holds: dict[int, tuple[float, int | None]] = {}
    for thread in profile:
        loop_thread = any(
            any(m in str(frames[i].get("file") or "") for m in LOOP_MARKERS) for s in thread.stacks[:200] for i in s
        )
        for stack in thread.stacks:
            if _is_idle(stack, frames, loop_thread):
                continue
            busy += 1
            self_[stack[-1]] += 1
            for index in set(stack):
                total[index] += 1
        if loop_thread:
            for index, (seconds, caller) in _holds(thread, frames).items():
                if seconds > holds.get(index, (0.0, None))[0]:
                    holds[index] = (seconds, caller)
    by_share = sorted(total, key=lambda i: (-total[i], -self_[i]))[:limit]
    holders = [i for i, (seconds, _) in holds.items() if seconds * 1000.0 >= MIN_REPORTED_HOLD_MS]
    ranked = sorted(set(by_share) | set(holders), key=lambda i: (-total[i], -self_[i]))
    result = []
    for index in ranked:
        location = _location(frames[index])
        seconds, caller = holds.get(index, (0.0, None))
        result.append(
            Frame(
                function=location.function,
                file=location.file,
                line=location.line,
                self_fraction=self_[index] / busy if busy else 0.0,
                total_fraction=total[index] / busy if busy else 0.0,
                longest_hold_ms=round(seconds * 1000.0, 1),
                caller=_location(frames[caller]) if caller is not None else None,
            )
        )
    return result


def busy_by_group(speedscope_path: Path | str, group: Callable[[str], str]) -> tuple[int, dict[str, float]]:
    """The busy samples of every thread, and their shares by ``group(file of the leaf frame)``: where the CPU
    went by layer (self time), e.g. driver, framework, application code."""
    profile = _load(speedscope_path)
    frames = profile.frames
    counts: Counter[str] = Counter()
    for thread in profile:
        for stack in thread.stacks:
            if not _is_idle(stack, frames, loop_thread=True):
                counts[group(str(frames[stack[-1]].get("file") or ""))] += 1
    busy = sum(counts.values())
    return busy, {name: n / busy for name, n in counts.most_common()} if busy else {}


def flamegraph_svg(profile: _Profile | Path | str, title: str = "flame graph", width: int = 1200) -> str:
    """A static flame graph (root at the bottom) of the busy samples of every thread, as SVG text."""
    if not isinstance(profile, _Profile):
        profile = _load(profile)
    frames = profile.frames
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for thread in profile:
        for stack in thread.stacks:
            if not _is_idle(stack, frames, loop_thread=True):
                path: tuple[str, ...] = (thread.name,)
                for index in stack:
                    loc = _location(frames[index])
                    path += (f"{loc.function} ({loc.file}:{loc.line})",)
                    counts[path] += 1
    depth = max((len(p) for p in counts), default=1)
    row = 17
    height = (depth + 2) * row
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for path in list(counts):
        children[path[:-1]].append(path)
    roots = sorted({path[:1] for path in counts if len(path) > 1})
    for root in roots:  # a thread's count is the sum of its outermost frames
        counts[root] = sum(counts[c] for c in children[root])
    children[()] = roots
    total = sum(counts[r] for r in roots) or 1
    parts.insert(3, f'<text x="4" y="13">{html.escape(title)} - {total} busy samples</text>')

    def draw(path: tuple[str, ...], x: float) -> None:
        n = counts[path]
        w = width * n / total
        y = height - (len(path) + 1) * row
        if w >= 0.5:
            hue = zlib.crc32(path[-1].encode()) % 60
            label = html.escape(f"{path[-1]} - {n} samples ({100 * n / total:.1f} %)")
            parts.append(
                f'<g><title>{label}</title><rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row - 1}" '
                f'fill="hsl({hue},85%,60%)"/>'
            )
            if w > 40:
                text = path[-1][: int(w / 6.7)]
                parts.append(f'<text x="{x + 2:.2f}" y="{y + 12}">{html.escape(text)}</text>')
            parts.append("</g>")
        offset = x
        for child in sorted(children[path]):
            draw(child, offset)
            offset += width * counts[child] / total

    offset = 0.0
    for root in roots:
        draw(root, offset)
        offset += width * counts[root] / total
    parts.append("</svg>")
    return "\n".join(parts)


class BackgroundProfile:
    """A py-spy recording running in a thread while a scenario loads the service.

    ``finish(result, run_dir)`` waits for it and stores the artifact paths (relative to ``run_dir``) in
    ``result.artifacts`` and the hot frames in ``result.details["hot_frames"]``, or the reason it could not
    profile in ``result.details["profile_error"]``.
    """

    def __init__(self, pid: int, duration_s: float, out_dir: Path, name: str) -> None:
        self._artifacts: ProfileArtifacts | None = None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._record, args=(pid, duration_s, out_dir, name), daemon=True)
        self._thread.start()

    def _record(self, pid: int, duration_s: float, out_dir: Path, name: str) -> None:
        try:
            self._artifacts = record(pid, duration_s, out_dir, name=name)
        except ProfilingError as exc:
            self._error = str(exc)

    def finish(self, result: ScenarioResult, run_dir: Path, limit: int = 30) -> None:
        self._thread.join()
        if self._artifacts is None:
            result.details["profile_error"] = self._error or "py-spy wrote no profile"
            return
        try:
            frames = hot_frames(self._artifacts.speedscope, limit=limit)
        except ProfilingError as exc:
            result.details["profile_error"] = str(exc)
            return
        for key, path in (("speedscope", self._artifacts.speedscope), ("flamegraph", self._artifacts.flamegraph)):
            result.artifacts[key] = str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)
        result.details["hot_frames"] = [f.to_dict() for f in frames]
        result.details["profile_samples"] = self._artifacts.samples
