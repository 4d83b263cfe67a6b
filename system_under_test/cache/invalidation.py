"""Event-driven invalidation across service processes over Redis pub/sub.

Every invalidation is published on one channel; each process drops the named entries from its L1.
Pub/sub is at-most-once (a process that is disconnected misses messages): after a reconnect the
listener clears L1, and the L1 TTL stays the backstop (a missed invalidation is stale for at most
`l1_ttl_s`). The listener reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from .redis_tier import RedisTier

CHANNEL = "cache:invalidate"
log = logging.getLogger(__name__)


class InvalidationBus:
    """Publishes this process's invalidations and applies other processes' ones via `on_message(op, arg)`."""

    def __init__(self, tier: RedisTier, on_message: Callable[[str, str], None]) -> None:
        self.tier = tier
        self.on_message = on_message
        self.origin = uuid.uuid4().hex
        self.received = 0
        self.reconnects = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def publish(self, op: str, arg: str) -> None:
        await self.tier.publish(CHANNEL, json.dumps({"o": self.origin, "op": op, "a": arg}))

    async def start(self, wait_s: float = 1.0) -> None:
        """Start listening; waits up to `wait_s` for the subscription (not fatal if Redis is down)."""
        self._task = asyncio.create_task(self._listen_forever(), name="cache-invalidation")
        try:
            async with asyncio.timeout(wait_s):
                await self.connected.wait()
        except TimeoutError:
            log.warning("cache invalidation channel not subscribed yet; retrying in the background")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                self.reconnects += 1
                log.warning("cache invalidation listener lost Redis (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            else:
                delay = 0.1

    async def _listen(self) -> None:
        pubsub = self.tier.client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            if self.reconnects:
                # Invalidations published while we were away are lost: start L1 afresh.
                self.on_message("flush", "")
            self.connected.set()
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is not None:
                    self._handle(message)
        finally:
            self.connected.clear()
            await pubsub.aclose()

    def _handle(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        try:
            event = json.loads(data)
            origin, op, arg = event["o"], event["op"], event["a"]
        except (TypeError, ValueError, KeyError):
            log.warning("ignoring malformed cache invalidation message %r", data)
            return
        if origin == self.origin:
            return
        self.received += 1
        self.on_message(op, arg)

    def describe(self) -> dict[str, Any]:
        return {"connected": self.connected.is_set(), "received": self.received, "reconnects": self.reconnects}
