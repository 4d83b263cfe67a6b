"""Cache warming: which keys are read most, remembered across service restarts in Redis.

Each process counts its reads; every `flush_s` it adds the counts of its 1,000 most-read keys to the
sorted set `cachemeta:hot`. At start-up a process copies the values of the top keys from L2 into L1,
so the hottest entries are served from memory from the first request on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from .redis_tier import RedisTier

FLUSH_TOP = 1000
log = logging.getLogger(__name__)


class HotKeys:
    """Read counts of this process, flushed to Redis; `warm()` loads the most-read keys' values."""

    def __init__(self, tier: RedisTier, flush_s: float) -> None:
        self.tier = tier
        self.flush_s = flush_s
        self._reads: Counter[str] = Counter()

    def record(self, key: str) -> None:
        self._reads[key] += 1

    async def flush(self) -> None:
        if not self._reads:
            return
        top = dict(self._reads.most_common(FLUSH_TOP))
        self._reads.clear()
        try:
            await self.tier.record_hot_keys(top)
        except Exception as exc:
            log.debug("hot-key counts not recorded: %s", exc)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def warm(self, n: int, store: Callable[[str, bytes | str], None]) -> int:
        """Hand the L2 values of the `n` most-read keys to `store(key, raw)`; returns how many existed."""
        if n <= 0:
            return 0
        try:
            keys = await self.tier.hot_keys(n)
            values = await self.tier.mget(keys)
        except Exception as exc:
            log.warning("cache warming skipped: %s", exc)
            return 0
        warmed = 0
        for key, raw in zip(keys, values, strict=True):
            if raw is not None:
                store(key, raw)
                warmed += 1
        log.info("cache warming: %d of %d hot keys loaded into L1", warmed, len(keys))
        return warmed
