"""Micro-batching of L2 reads and stores: calls of one loop iteration share one Redis round trip, each
caller still gets its own answer, and a store's lease is checked per entry inside a batch."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from system_under_test.cache.batching import MicroBatcher
from system_under_test.cache.redis_tier import NAMESPACE, RedisTier
from system_under_test.resilience import build_policies


async def test_concurrent_submissions_go_out_as_one_batch_and_answer_each_caller() -> None:
    calls: list[list[int]] = []

    async def square(items: list[int]) -> list[int]:
        calls.append(items)
        await asyncio.sleep(0)
        return [i * i for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(square)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 1, 4, 9, 16]
    assert calls == [[0, 1, 2, 3, 4]]
    assert await batcher.submit(7) == 49  # alone: a batch of one on the next iteration
    assert calls[-1] == [7] and batcher.batches == 2 and batcher.items == 6


async def test_a_failed_batch_fails_every_caller_and_the_next_batch_is_fresh() -> None:
    fail = True

    async def run(items: list[str]) -> list[str]:
        if fail:
            raise ConnectionError("redis down")
        return items

    batcher: MicroBatcher[str, str] = MicroBatcher(run)
    results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    fail = False
    assert await batcher.submit("c") == "c"


async def test_a_cancelled_caller_is_left_out_and_the_others_are_answered() -> None:
    seen: list[list[str]] = []

    async def run(items: list[str]) -> list[str]:
        seen.append(items)
        return [i.upper() for i in items]

    batcher: MicroBatcher[str, str] = MicroBatcher(run)
    gone = asyncio.ensure_future(batcher.submit("x"))
    kept = asyncio.ensure_future(batcher.submit("y"))
    await asyncio.sleep(0)  # both submitted, the flush is scheduled
    gone.cancel()
    assert await kept == "Y"
    assert seen == [["y"]]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_batch_size_is_bounded() -> None:
    sizes: list[int] = []

    async def run(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=4)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]


async def test_batched_stores_check_each_lease_and_reads_share_one_mget(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        tier = RedisTier(client, build_policies().redis)
        seq = await tier.seq()
        # a newer tombstone on property:2: covers the second entry only
        newer = await tier.tombstone("property:2:", 60.0)
        assert newer > seq
        items = [("property:1:a", b"one"), ("property:2:a", b"two"), ("property:3:a", b"three")]
        scopes = [["", "property:", f"property:{n}:", key] for n, (key, _) in enumerate(items, start=1)]
        pairs = zip(items, scopes, strict=True)
        stored = await asyncio.gather(*(tier.store_unless_invalidated(k, v, 60.0, seq, s) for (k, v), s in pairs))
        assert stored == [True, False, True]
        assert tier._stores.batches == 1
        assert await client.get(NAMESPACE + "property:1:a") == b"one"
        assert await client.get(NAMESPACE + "property:2:a") is None
        reads = await asyncio.gather(*(tier.get_with_seq(key) for key, _ in items))
        assert reads == [(b"one", newer), (None, newer), (b"three", newer)]
        assert tier._reads.batches == 1
    finally:
        await client.aclose()
