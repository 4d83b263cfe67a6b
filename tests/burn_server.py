"""A ground-truth server for capacity tests: one process, one thread, k ms of CPU per request.

Run as ``python -m tests.burn_server PORT BURN_MS``: an asyncio HTTP/1.1 server (keep-alive, so many
load-generator connections share the one thread) whose every request busy-loops until the thread has
used ``BURN_MS`` of CPU (`time.thread_time`). Requests are served one at a time, so the server cannot
sustain more than about 1000 / BURN_MS requests per second; it prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def burn(ms: float) -> None:
    """Spin until this thread has used `ms` milliseconds of CPU."""
    end = time.thread_time() + ms / 1000.0
    while time.thread_time() < end:
        pass


async def serve(port: int, burn_ms: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                if length:
                    await reader.readexactly(length)
                burn(burn_ms)
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2])))
