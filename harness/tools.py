"""Finding the console scripts the project installs (py-spy, asv ...): beside this interpreter first.

A virtualenv that is not activated (`v/bin/athbench`) does not put its `bin` on PATH, so `shutil.which`
alone misses the tools installed with athbench, or finds another installation's.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def find_tool(name: str) -> str | None:
    """Path of the executable `name`: in this interpreter's scripts directory, else on PATH, else None."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)
