"""The unprivileged user the embedded servers run as when athbench runs as root.

PostgreSQL refuses to run as root, so as root its server (and PgBouncer, and pg_basebackup) run as the
`pgserver` user (pgserver's own convention), created if missing. That user must reach the server's
binaries and its data directory, yet the installation and the run directory often lie below a private
directory (the root user's home is 0700 in most container images). athbench never loosens the
permissions of the user's directories to get there. Instead:

- binaries below a directory the server user cannot traverse are copied once into the runtime root
  (`shared_install`, with the libraries their RPATH names), keyed by source path and modification time;
- a data directory below such a directory is created in the runtime root instead, and the requested
  path becomes a symlink to it (`server_dir`). Relocated directories whose symlink is gone (the run
  directory was deleted) are removed the next time one is created (`prune_relocated`).

The runtime root is `$ATHBENCH_RUNTIME_DIR` or `/var/tmp/athbench`, owned by root with mode 0711: other
users can reach what is inside by its path but cannot list it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

SYSTEM_USER = "pgserver"


def runtime_root() -> Path:
    """The root-owned directory (0711) that holds relocated data directories and shared binaries."""
    root = Path(os.environ.get("ATHBENCH_RUNTIME_DIR") or "/var/tmp/athbench")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)
    return root


def is_root() -> bool:
    return os.geteuid() == 0


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can traverse every existing ancestor directory of `path`."""
    for parent in Path(os.path.abspath(path)).parents:
        try:
            mode = parent.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & stat.S_IXOTH:
            return False
    return True


def ensure_user() -> tuple[int, int]:
    """Create the server user if missing; return its uid and gid."""
    with warnings.catch_warnings():  # importing pgserver warns when XDG_RUNTIME_DIR is unset, as under root
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from pgserver.utils import ensure_user_exists

    entry = ensure_user_exists(SYSTEM_USER)
    assert entry is not None
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def _key(path: Path) -> str:
    return hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:16]


def prune_relocated() -> list[Path]:
    """Remove relocated data directories whose symlink no longer points to them; return what was removed."""
    data = runtime_root() / "data"
    removed: list[Path] = []
    if not data.is_dir():
        return removed
    for record in data.glob("*.link"):
        target = record.with_suffix("")
        link = Path(record.read_text().strip())
        try:
            alive = link.is_symlink() and link.resolve() == target.resolve()
        except OSError:
            alive = False
        if not alive:
            shutil.rmtree(target, ignore_errors=True)
            record.unlink(missing_ok=True)
            removed.append(target)
    return removed


def server_dir(path: Path) -> tuple[Path, str | None]:
    """Make `path` a directory the server may own; return (the directory to give the server, user or None).

    Not as root: `path` itself, no user. As root: a directory owned by the server user with mode 0700,
    at `path` when the server user can reach it, else in the runtime root with `path` a symlink to it.
    """
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_root():
        path.mkdir(exist_ok=True)
        return path, None
    uid, gid = ensure_user()
    if path.is_symlink():
        real = path.resolve()
    elif reachable_by_others(path):
        real = path
    else:
        prune_relocated()
        data = runtime_root() / "data"
        data.mkdir(exist_ok=True)
        data.chmod(0o711)
        real = data / f"{_key(path)}-{path.name}"
        if path.exists():  # an earlier directory here (e.g. from an older athbench): move it out
            shutil.move(str(path), str(real))
        real.mkdir(exist_ok=True)
        (data / f"{real.name}.link").write_text(str(path))
        path.symlink_to(real, target_is_directory=True)
    real.mkdir(parents=True, exist_ok=True)
    _chown_tree(real, uid, gid)
    real.chmod(0o700)
    return real, SYSTEM_USER


def shared_install(root: Path, parts: Sequence[str]) -> Path:
    """`root` if the server user can reach it (or we are not root), else a copy in the runtime root of the
    `parts` of `root` (relative paths), laid out as below `root` so relative RPATHs still resolve."""
    root = Path(os.path.abspath(root))
    if not is_root() or reachable_by_others(root / "x"):
        return root
    stamp = ":".join(f"{root / part}:{(root / part).stat().st_mtime_ns}" for part in parts)
    copy = runtime_root() / f"install-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    if copy.is_dir():
        return copy
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=runtime_root()))
    try:
        for part in parts:
            shutil.copytree(root / part, staging / part, symlinks=True)
        for top, dirs, _files in os.walk(staging):
            for name in dirs:
                Path(top, name).chmod(0o755)
        staging.chmod(0o755)
        try:
            staging.rename(copy)
        except OSError:  # another process copied it meanwhile
            if not copy.is_dir():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    return copy
