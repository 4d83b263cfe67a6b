"""L2: Redis, every call through the `redis` resilience policy (breaker, bulkhead, time limit).

Keys live under the `cache:` namespace so a flush or a prefix delete never touches other data.
Values are the serialized envelopes of `multilevel.py` (bytes), stored with a TTL.
"""

from __future__ import annotations

from typing import Any

from ..resilience import Policy

NAMESPACE = "cache:"
HOT_KEYS = "cachemeta:hot"


class RedisTier:
    """Thin async wrapper over a `redis.asyncio.Redis` client."""

    def __init__(self, client: Any, policy: Policy) -> None:
        self.client = client
        self.policy = policy

    async def get(self, key: str) -> bytes | str | None:
        return await self.policy.call(lambda: self.client.get(NAMESPACE + key))

    async def set(self, key: str, data: bytes, ttl_s: float) -> None:
        await self.policy.call(lambda: self.client.set(NAMESPACE + key, data, px=max(1, int(ttl_s * 1000))))

    async def mget(self, keys: list[str]) -> list[bytes | str | None]:
        if not keys:
            return []
        return await self.policy.call(lambda: self.client.mget([NAMESPACE + k for k in keys]))

    async def delete(self, key: str) -> None:
        await self.policy.call(lambda: self.client.delete(NAMESPACE + key))

    async def delete_prefix(self, prefix: str) -> int:
        """SCAN MATCH + DEL: cost grows with the keyspace, acceptable for rare writes and flushes."""
        pattern = NAMESPACE + _escape_glob(prefix) + "*"

        async def scan_and_delete() -> int:
            deleted = 0
            batch: list[Any] = []
            async for name in self.client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 500:
                    deleted += await self.client.delete(*batch)
                    batch.clear()
            if batch:
                deleted += await self.client.delete(*batch)
            return deleted

        return await self.policy.call(scan_and_delete)

    async def publish(self, channel: str, message: str) -> None:
        await self.policy.call(lambda: self.client.publish(channel, message))

    async def record_hot_keys(self, counts: dict[str, int]) -> None:
        """Add read counts to the sorted set of hot keys (used for warming at start-up)."""
        if not counts:
            return

        async def send() -> None:
            pipe = self.client.pipeline(transaction=False)
            for key, n in counts.items():
                pipe.zincrby(HOT_KEYS, n, key)
            await pipe.execute()

        await self.policy.call(send)

    async def hot_keys(self, n: int) -> list[str]:
        names = await self.policy.call(lambda: self.client.zrevrange(HOT_KEYS, 0, n - 1))
        return [k.decode() if isinstance(k, bytes) else k for k in names]


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
