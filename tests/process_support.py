"""What tests that send Ctrl-C (SIGINT) to a child process need."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """`preexec_fn` for such a child: a shell that started the test run in the background ignores SIGINT,
    and children inherit that (Python then raises no KeyboardInterrupt); give it the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
