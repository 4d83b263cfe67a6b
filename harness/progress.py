"""Rich progress bars for long steps (seeding, warm-up, load phases, backups)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextlib.contextmanager
def seed_progress(console: Console) -> Iterator[Callable[[int, int], None]]:
    """A callback(done, total) that drives a progress bar for seeding; shows nothing if never called."""
    with progress_bar(console, "seeding properties") as update:
        yield update


@contextlib.contextmanager
def progress_bar(console: Console, description: str) -> Iterator[Callable[[int, int], None]]:
    """A callback(done, total) driving one rich progress bar, created on the first call."""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    task: list[int] = []

    finished: list[bool] = []

    def update(done: int, total: int) -> None:
        if finished:
            return
        if not task:
            progress.start()
            task.append(progress.add_task(description, total=total))
        progress.update(task[0], completed=done, total=total)
        if done >= total:  # the step is over: let the run's own output follow
            progress.stop()
            finished.append(True)

    try:
        yield update
    finally:
        if task and not finished:
            progress.stop()


def plain_log(console: Console) -> Callable[[str], None]:
    """A log function that prints text as it is: run logs hold brackets ("[api_latency / baseline]")."""

    def log(message: str) -> None:
        console.print(message, markup=False, highlight=False)

    return log
