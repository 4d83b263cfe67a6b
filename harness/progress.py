"""Progress of long steps: the harness emits `Update`s to one process-wide sink; commands choose the display.

Emitters: the runner (the pack, scenario i of n, with its ETA), `harness.load.runner` (each load phase),
the stack's seeding (`counter`), the backup command (backup, restore drill). They call `report(update)`,
or use `timed(...)` (elapsed / expected seconds, ticked from a thread) and `counter(...)` (a
`(done, total)` callback); with no sink installed (library use, most tests) nothing is shown.

A command installs one with `show_progress(console)`: `RichProgress` on a terminal (a live bar per step
with elapsed and remaining time), `PlainProgress` otherwise (timestamped lines for CI logs, such as
``18:02:11 [3/9] api_latency/optimized: load phase 5 s of 30 s, 25 s left``, at most one line per step
every `PLAIN_INTERVAL_S`). A step is shown once it is expected to last, or has lasted, `MIN_STEP_S`.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

MIN_STEP_S = 2.0  # shorter steps show nothing
PLAIN_INTERVAL_S = 10.0  # plain lines: at most one per step this often
PACK = "pack"  # the step key of the pack's scenario-by-scenario progress


@dataclass(frozen=True)
class Update:
    """Where one step is: `done` of `total` in `unit` (seconds: "s"), and what is left when known."""

    step: str  # a stable key: "pack", "load phase", "seeding", "backup", "restore drill"
    label: str  # what the display shows: "[3/9] api_latency/optimized", "load phase: open model, 3 s"
    done: float
    total: float | None = None  # None: unknown
    unit: str = "s"
    eta_s: float | None = None  # remaining seconds, when the emitter knows better than total - done
    finished: bool = False

    @property
    def remaining_s(self) -> float | None:
        """Seconds left: the emitter's ETA, else what is left of a step measured in seconds, else None."""
        if self.eta_s is not None:
            return max(0.0, self.eta_s)
        if self.unit == "s" and self.total is not None:
            return max(0.0, self.total - self.done)
        return None


Sink = Callable[[Update], None]
_sink: Sink | None = None


@contextlib.contextmanager
def reporting(sink: Sink | None) -> Iterator[None]:
    """Send every `report(...)` of this process to `sink` within the block."""
    global _sink
    previous, _sink = _sink, sink
    try:
        yield
    finally:
        _sink = previous


def report(update: Update) -> None:
    """Pass `update` to the installed sink, if any."""
    sink = _sink
    if sink is not None:
        sink(update)


def counter(step: str, label: str) -> Callable[[int, int], None]:
    """A `(done, total)` callback (e.g. seeding's) reporting a counted step; done >= total ends it."""

    def update(done: int, total: int) -> None:
        report(Update(step, label, float(done), float(total), unit="items", finished=done >= total))

    return update


@contextlib.contextmanager
def timed(step: str, label: str, expected_s: float | None, period_s: float = 0.5) -> Iterator[None]:
    """Report the block's elapsed seconds against `expected_s` (None: unknown) every `period_s`, then its end."""
    if _sink is None:
        yield
        return
    t0 = time.monotonic()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(period_s):
            report(Update(step, label, time.monotonic() - t0, expected_s))

    report(Update(step, label, 0.0, expected_s))
    thread = threading.Thread(target=tick, name=f"progress-{step}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        report(Update(step, label, time.monotonic() - t0, expected_s, finished=True))


def duration_text(seconds: float) -> str:
    """A duration as people say it: "25 s", "4 min", "1 h 20 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


@dataclass
class _StepState:
    started: float  # monotonic
    last_line: float | None = None
    shown: bool = False


def _expected_s(update: Update) -> float:
    """How long the step is expected to last in all, as far as the update says."""
    if update.unit == "s" and update.total is not None:
        return update.total
    return update.remaining_s or 0.0


def _left_s(update: Update, elapsed_s: float) -> float | None:
    """Seconds left: as the update says, else extrapolated from the rate so far (counted steps)."""
    left = update.remaining_s
    if left is None and update.total and update.done > 0:
        left = elapsed_s * (update.total - update.done) / update.done
    return left


@dataclass
class PlainProgress:
    """Timestamped lines, at most one per step every `interval_s`; nested steps carry the pack's label."""

    console: Console
    interval_s: float = PLAIN_INTERVAL_S
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = datetime.now
    _steps: dict[tuple[str, str], _StepState] = field(default_factory=dict)
    _context: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, update: Update) -> None:
        with self._lock:
            now = self.clock()
            key = (update.step, update.label)
            if update.step == PACK:  # a new scenario: the pack's earlier ones are over
                self._context = "" if update.finished else update.label
                for old in [k for k in self._steps if k[0] == PACK and k != key]:
                    del self._steps[old]
            state = self._steps.setdefault(key, _StepState(started=now))
            if update.finished:
                self._steps.pop(key, None)
                return
            if _expected_s(update) < MIN_STEP_S and now - state.started < MIN_STEP_S:
                return
            if state.last_line is not None and now - state.last_line < self.interval_s:
                return
            state.last_line = now
            self.console.print(self.line(update, now - state.started), markup=False, highlight=False, soft_wrap=True)

    def line(self, update: Update, elapsed_s: float) -> str:
        """One log line for `update`, `elapsed_s` into its step."""
        stamp = self.wall().strftime("%H:%M:%S")
        if update.step == PACK:
            left = update.remaining_s
            eta = f", ETA {duration_text(left)}" if left is not None else ""
            return f"{stamp} {update.label} starts{eta}"
        prefix = f"{self._context}: " if self._context else ""
        left = _left_s(update, elapsed_s)
        if update.unit == "s":
            amount = f"{duration_text(update.done)}" + (f" of {duration_text(update.total)}" if update.total else "")
        else:
            amount = f"{update.done:,.0f}" + (f" of {update.total:,.0f}" if update.total else "")
        tail = f", {duration_text(left)} left" if left is not None else ""
        return f"{stamp} {prefix}{update.label} {amount}{tail}"

    def close(self) -> None:
        """Nothing to tidy: every line is already printed."""


class _RemainingColumn(ProgressColumn):
    """Remaining time from the emitter's figure, counted down between updates."""

    def render(self, task: Task) -> Text:
        left = task.fields.get("remaining_s")
        if left is None:
            return Text("-:--:-- left", style="progress.remaining")
        left = math.ceil(max(0.0, left - (time.monotonic() - task.fields["at"])))
        return Text(f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d} left", style="progress.remaining")


class RichProgress:
    """A live rich display, one bar per running step: label, bar, amount, elapsed and remaining time."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            _RemainingColumn(),
            console=console,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._started: dict[tuple[str, str], float] = {}
        self._live = False
        self._lock = threading.Lock()

    def __call__(self, update: Update) -> None:
        with self._lock:
            now = time.monotonic()
            key = (update.step, "" if update.step == PACK else update.label)  # the pack: one bar, relabelled
            if update.finished:
                task = self._tasks.pop(key, None)
                self._started.pop(key, None)
                if task is not None:
                    self.progress.remove_task(task)
                if not self._tasks and self._live:  # let the run's own output follow
                    self.progress.stop()
                    self._live = False
                return
            started = self._started.setdefault(key, now)
            if key not in self._tasks and _expected_s(update) < MIN_STEP_S and now - started < MIN_STEP_S:
                return
            if update.unit == "s":
                amount = f"{update.done:.0f}/{update.total:.0f} s" if update.total else ""
            else:
                amount = f"{update.done:,.0f}/{update.total:,.0f} {update.unit}" if update.total else ""
            fields = {"amount": amount, "remaining_s": _left_s(update, now - started), "at": now}
            total = update.total if update.total else None
            if key not in self._tasks:
                self._tasks[key] = self.progress.add_task(update.label, total=total, **fields)
                if not self._live:
                    self.progress.start()
                    self._live = True
            task = self._tasks[key]
            self.progress.update(task, description=update.label, completed=update.done, total=total, **fields)

    def close(self) -> None:
        with self._lock:
            if self._live:
                self.progress.stop()
                self._live = False


def renderer_for(console: Console) -> RichProgress | PlainProgress:
    """A live bar on a terminal, plain timestamped lines otherwise (CI logs, pipes)."""
    return RichProgress(console) if console.is_terminal else PlainProgress(console)


@contextlib.contextmanager
def show_progress(console: Console) -> Iterator[RichProgress | PlainProgress]:
    """Show every step reported within the block on `console`."""
    renderer = renderer_for(console)
    try:
        with reporting(renderer):
            yield renderer
    finally:
        renderer.close()


@contextlib.contextmanager
def seed_progress(console: Console) -> Iterator[Callable[[int, int], None]]:
    """A callback(done, total) that shows seeding's progress on `console`; shows nothing if never called."""
    with show_progress(console):
        yield counter("seeding", "seeding properties")


def plain_log(console: Console) -> Callable[[str], None]:
    """A log function that prints text as it is: run logs hold brackets ("[api_latency / baseline]")."""

    def log(message: str) -> None:
        console.print(message, markup=False, highlight=False)

    return log
