"""L2: Redis, every call through the `redis` resilience policy (breaker, bulkhead, time limit).

Keys live under the `cache:` namespace so a flush or a prefix delete never touches other data.
Values are the serialized envelopes of `multilevel.py` (bytes), stored with a TTL.
"""

from __future__ import annotations

from typing import Any

from ..resilience import Policy
from .batching import MicroBatcher

NAMESPACE = "cache:"
HOT_KEYS = "cachemeta:hot"
SEQ_KEY = "cachemeta:seq"
TOMBSTONE = "cachemeta:tomb:"

# Store each entry only if no invalidation covering its key happened after its load began (a memcache-style
# lease: the load read the invalidation sequence number with its L2 miss). ARGV[1] is the number of entries;
# each entry is KEYS: its key then its scopes' tombstones, ARGV: scope count, value, TTL (ms), sequence number.
_STORE_LUA = """
local out = {}
local k, a = 1, 2
for i = 1, tonumber(ARGV[1]) do
  local scopes, seq = tonumber(ARGV[a]), tonumber(ARGV[a + 3])
  local ok = 1
  for j = 1, scopes do
    local t = redis.call('GET', KEYS[k + j])
    if t and tonumber(t) > seq then ok = 0 end
  end
  if ok == 1 then redis.call('SET', KEYS[k], ARGV[a + 1], 'PX', ARGV[a + 2]) end
  out[i] = ok
  k = k + 1 + scopes
  a = a + 4
end
return out
"""
# Number the invalidation and leave a tombstone for its target (a key, a prefix, or "" for a flush).
_TOMBSTONE_LUA = """
local s = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], s, 'PX', ARGV[1])
return s
"""


class RedisTier:
    """Thin async wrapper over a `redis.asyncio.Redis` client."""

    def __init__(self, client: Any, policy: Policy) -> None:
        self.client = client
        self.policy = policy
        # Concurrent misses share one round trip (and one pass through the policy): cache/batching.py.
        self._reads: MicroBatcher[str, tuple[bytes | str | None, int]] = MicroBatcher(self._get_many_with_seq)
        self._stores: MicroBatcher[tuple[str, bytes, int, int, list[str]], bool] = MicroBatcher(self._store_many)

    def batching(self) -> dict[str, dict[str, float | int | None]]:
        """How many L2 reads and stores went out, in how many round trips (`cache/batching.py`)."""
        return {name: b.describe() for name, b in (("reads", self._reads), ("stores", self._stores))}

    async def get(self, key: str) -> bytes | str | None:
        return await self.policy.call(lambda: self.client.get(NAMESPACE + key))

    async def get_with_seq(self, key: str) -> tuple[bytes | str | None, int]:
        """The entry and the current invalidation sequence number, read together (one MGET, shared with
        the other reads of the same loop iteration)."""
        return await self._reads.submit(key)

    async def _get_many_with_seq(self, keys: list[str]) -> list[tuple[bytes | str | None, int]]:
        *raws, seq = await self.policy.call(lambda: self.client.mget([*(NAMESPACE + k for k in keys), SEQ_KEY]))
        return [(raw, int(seq or 0)) for raw in raws]

    async def seq(self) -> int:
        return int(await self.policy.call(lambda: self.client.get(SEQ_KEY)) or 0)

    async def store_unless_invalidated(self, key: str, data: bytes, ttl_s: float, seq: int, scopes: list[str]) -> bool:
        """SET `key` unless a tombstone of one of `scopes` is newer than `seq`; whether it was stored. One
        script call for all the stores of the same loop iteration, each checked on its own."""
        return await self._stores.submit((key, data, max(1, int(ttl_s * 1000)), seq, scopes))

    async def _store_many(self, items: list[tuple[str, bytes, int, int, list[str]]]) -> list[bool]:
        keys: list[str] = []
        args: list[Any] = [len(items)]
        for key, data, ttl_ms, seq, scopes in items:
            keys += [NAMESPACE + key, *(TOMBSTONE + scope for scope in scopes)]
            args += [len(scopes), data, ttl_ms, seq]
        stored = await self.policy.call(lambda: self.client.eval(_STORE_LUA, len(keys), *keys, *args))
        return [bool(x) for x in stored]

    async def tombstone(self, target: str, ttl_s: float) -> int:
        """Leave a tombstone for `target` (outliving any load that began before it); its sequence number."""
        keys = [SEQ_KEY, TOMBSTONE + target]
        return int(await self.policy.call(lambda: self.client.eval(_TOMBSTONE_LUA, 2, *keys, int(ttl_s * 1000))))

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
