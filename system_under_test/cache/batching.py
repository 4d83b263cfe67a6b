"""Micro-batching: calls made in the same event-loop iteration go out together as one call.

Under load many requests miss L1 at about the same moment, and each Redis command costs far more in the
client (connection checkout, packing, parsing, the resilience policy) than in Redis. `MicroBatcher` puts
every item submitted before the loop next gets to its callbacks into one batch, sends it with one call of
`run(items) -> results` (one result per item, in order) and hands each caller its own result. Nothing
waits for a timer: an item submitted alone goes out on the next loop iteration, as a batch of one. A
failed batch fails every caller in it with the same exception, as each would have failed alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741

MAX_BATCH = 256


class MicroBatcher(Generic[I, O]):
    """`await batcher.submit(item)` -> that item's result from one shared `run(items)` call."""

    def __init__(self, run: Callable[[list[I]], Awaitable[list[O]]], max_batch: int = MAX_BATCH) -> None:
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[I, asyncio.Future[O]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.items = 0

    def describe(self) -> dict[str, float | int | None]:
        """Items sent, batches they went out in, and the mean batch size."""
        mean = self.items / self.batches if self.batches else None
        return {"items": self.items, "batches": self.batches, "mean_batch": mean}

    async def submit(self, item: I) -> O:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[O] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch = [(item, future) for item, future in self._pending if not future.done()]  # drop cancelled callers
        self._pending = []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} items answered with {len(results)} results")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
