"""A fork server for load processes: gevent, Locust and the generator are imported once, each phase forks.

Starting a load process costs about 1.5 s of CPU before its first request (gevent's monkey-patching and
Locust's imports), which is most of a short phase's overhead and runs on the machine under test. The
harness therefore starts this module once (``python -m harness.load.forkserver``, lazily, at its first
load phase) and asks it for one child per phase, as `multiprocessing`'s forkserver does:

- request, one JSON line on stdin: ``{"argv": [...], "env": {...}, "log": PATH, "status": PATH}``;
- reply, one JSON line on stdout: ``{"pid": N}`` (or ``{"error": "..."}``).

The child starts its own session (so the harness stops it and what it starts with one ``killpg``), writes
stdout and stderr to ``log``, takes the request's environment, runs ``harness.load.worker.main(argv)`` and
writes its exit code to ``status`` before it exits: the harness is not its parent and cannot wait for it.
The server reaps its children and exits when its stdin closes (the harness exited, however it ended).
Python's `random` reseeds itself in every forked child; numpy generators are seeded per phase.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

import gevent.os  # noqa: E402
from gevent.monkey import get_original  # noqa: E402

import harness.load.distributed  # noqa: E402  imported once here, not in every child
import harness.load.generator  # noqa: E402, F401  (Locust, the generator)
from harness.load import worker  # noqa: E402

_select = get_original("select", "select")
_waitpid = get_original("os", "waitpid")
_read = get_original("os", "read")
REAP_INTERVAL_S = 0.05


def child(request: dict[str, object], ready_fd: int) -> None:
    """In the forked child: become the load process the request describes, then exit. Writing to
    `ready_fd` tells the server the child leads its own session (so a `killpg` from the harness reaches it)."""
    code = 1
    try:
        os.setsid()
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the server ignores it; a load process must not
        log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
        argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
        sys.argv = ["harness.load.worker", *argv]
        worker.main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the child must always reach os._exit
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            with open(str(request["status"]), "w") as status:
                status.write(str(code))
        finally:
            os._exit(code)


def reap() -> None:
    """Collect every child that has exited (they report through their status files)."""
    while True:
        try:
            pid, _ = _waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve() -> None:
    """Answer fork requests from stdin until it closes."""
    buffer = b""
    while True:
        ready, _, _ = _select([0], [], [], REAP_INTERVAL_S)
        reap()
        if not ready:
            continue
        chunk = _read(0, 65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                request = json.loads(line)
                ready_read, ready_write = os.pipe()
                pid = gevent.os.fork_gevent()
            except Exception as exc:  # a bad request or a failed fork is answered, not fatal
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            else:
                if pid == 0:
                    os.close(ready_read)
                    child(request, ready_write)
                os.close(ready_write)
                # answer once the child leads its session (or has died trying: the pipe closes)
                _read(ready_read, 1)
                os.close(ready_read)
                reply = {"pid": pid}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C goes to the harness, which stops us
    print(json.dumps({"ready": os.getpid()}), flush=True)
    serve()
