"""File handling for backups: locked temporary files, atomic renames, fsync, stale-temporary cleanup.

Every file being written carries the `.partial` suffix and an exclusive `flock` held by its writer.
A writer that dies (SIGKILL, power loss) releases the lock, so the next run can tell its leftovers from
a write in progress in another process, and delete only the leftovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import BinaryIO

PARTIAL_SUFFIX = ".partial"


def partial_path(final: Path) -> Path:
    """The hidden temporary name a file is written under before its rename to `final`."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def open_partial(final: Path) -> BinaryIO:
    """Create `final`'s temporary file, exclusively locked, for writing."""
    path = partial_path(final)
    handle = open(path, "xb")  # noqa: SIM115 - the caller owns and closes it
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def fsync_dir(directory: Path) -> None:
    """Make renames inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_partial(handle: BinaryIO, final: Path) -> None:
    """Flush and fsync the temporary file behind `handle`, rename it to `final`, fsync the directory."""
    handle.flush()
    os.fsync(handle.fileno())
    os.replace(partial_path(final), final)
    handle.close()
    fsync_dir(final.parent)


def discard_partial(handle: BinaryIO, final: Path) -> None:
    """Close and delete an unfinished temporary file (even when closing fails, e.g. on a full disk)."""
    with contextlib.suppress(OSError):
        handle.close()  # flushes what is still buffered: ENOSPC again on a full disk
    with contextlib.suppress(FileNotFoundError):
        partial_path(final).unlink()


def write_atomic(final: Path, data: bytes) -> None:
    """Write `data` to `final` through a locked temporary file and a rename."""
    handle = open_partial(final)
    try:
        handle.write(data)
    except BaseException:
        discard_partial(handle, final)
        raise
    commit_partial(handle, final)


def remove_stale_partials(directory: Path) -> list[Path]:
    """Delete `.partial` files whose writer is gone (their lock is free); return what was deleted."""
    removed: list[Path] = []
    for path in directory.glob(f".*{PARTIAL_SUFFIX}"):
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
