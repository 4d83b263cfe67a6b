"""asv benchmarks of athbench's hot paths (configuration: `asv.conf.json` at the repository root).

In an asv-managed virtualenv (asv sets `ASV_ENV_DIR` to it; not for `--python=same`) the project is
installed from the commit under test and imported from there only. In an existing environment where
athbench is not installed (`asv run --python=same`), the repository root is put on `sys.path` and on
`PYTHONPATH` (for the service processes a benchmark starts), so the working tree is what gets measured.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

EDITABLE_FINDER = "__editable___athbench"


def _asv_managed() -> bool:
    """Whether this interpreter is one of asv's own environments (not the user's virtualenv)."""
    env_dir = os.environ.get("ASV_ENV_DIR")
    return bool(env_dir) and Path(sys.prefix).resolve().is_relative_to(Path(env_dir).resolve())


if _asv_managed():
    # An asv-managed virtualenv sees the base interpreter's site-packages (asv.conf.json); if athbench is
    # installed there in editable mode, its finder would fill modules the commit under test lacks with
    # the working tree's. Drop it: a commit is measured with its own code only.
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith(EDITABLE_FINDER)]
elif importlib.util.find_spec("system_under_test") is None:
    _ROOT = str(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, _ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)


def skip_if_missing(error: ImportError | None) -> None:
    """In `setup`: mark the benchmark n/a (asv's NotImplementedError) on a commit that lacks its modules.

    Benchmark modules import the project inside `try: ... except ImportError as exc: MISSING = exc`, so
    asv can discover the suite on every commit of a range, including commits older than a module.
    """
    if error is not None:
        raise NotImplementedError(f"not in this commit: {error}")
