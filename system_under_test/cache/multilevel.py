"""The optimized cache: L1 in-process -> L2 Redis -> (L3 materialized view) -> loader.

Each stored value travels in an envelope `{"v": value, "d": delta, "e": expiry}`: `delta` is how long
the value took to compute and `expiry` the wall-clock time its L2 lifetime ends. Any reader (L1 or L2
hit) applies the XFetch rule to them and, when it fires, starts one background recomputation while
still answering with the current value. Misses are coalesced per key (single-flight).

A Redis failure never fails a read: the L2 lookup is recorded as an `error` and the read goes on to
L3 / the loader (the `redis` breaker makes that skip immediate while Redis is down).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..resilience import Policy
from .base import Cache, Loader, T
from .config import CacheConfig
from .invalidation import InvalidationBus
from .l1 import L1Cache
from .materialized import MaterializedViews
from .redis_tier import RedisTier
from .singleflight import SingleFlight
from .stats import CACHE_EARLY_REFRESHES, CacheStats
from .warming import HotKeys
from .xfetch import should_refresh_early

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Envelope:
    value: Any
    delta: float
    expiry: float


def encode(envelope: Envelope) -> bytes:
    return json.dumps({"v": envelope.value, "d": envelope.delta, "e": envelope.expiry}, separators=(",", ":")).encode()


def decode(raw: bytes | str) -> Envelope:
    data = json.loads(raw)
    return Envelope(data["v"], float(data["d"]), float(data["e"]))


class MultiLevelCache(Cache):
    """L1 + L2 + optional L3, single-flight, XFetch, pub/sub invalidation, hot-key warming."""

    profile = "optimized"

    def __init__(
        self,
        config: CacheConfig,
        redis_client: Any | None,
        redis_policy: Policy | None,
        *,
        views: MaterializedViews | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.views = views
        self._clock = clock
        self._rand = rand
        self.l1 = L1Cache(config.l1_max_entries, config.l1_max_bytes, config.l1_ttl_s, clock=clock)
        self.l2 = RedisTier(redis_client, redis_policy) if redis_client is not None and redis_policy else None
        self.bus = InvalidationBus(self.l2, self._apply_remote) if self.l2 is not None else None
        self._flight = SingleFlight()
        self._stats = CacheStats()
        self._epoch = 0  # bumped by every invalidation; a load that saw another epoch is not stored
        self.hot = HotKeys(self.l2, config.hot_key_flush_s) if self.l2 is not None else None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.early_refreshes = 0

    # -- reads ----------------------------------------------------------------------------------
    async def get_or_load(
        self,
        key: str,
        loader: Loader[T],
        *,
        endpoint: str,
        ttl_s: float | None = None,
        l3: Loader[T | None] | None = None,
    ) -> T:
        if self.hot is not None:
            self.hot.record(key)
        envelope: Envelope | None = self.l1.get(key)
        if envelope is not None:
            self._stats.record("l1", endpoint, "hit")
            self._maybe_refresh_early(key, envelope, loader, endpoint, ttl_s, l3)
            return envelope.value
        self._stats.record("l1", endpoint, "miss")
        found = await self._l2_get(key, endpoint)
        if found is not None:
            envelope, size = found
            self._store_l1(key, envelope, size)
            self._maybe_refresh_early(key, envelope, loader, endpoint, ttl_s, l3)
            return envelope.value
        task, leader = self._flight.start(key, lambda: self._load(key, loader, endpoint, ttl_s, l3))
        if not leader:
            self._stats.record("origin", endpoint, "coalesced")
        return (await asyncio.shield(task)).value

    async def _l2_get(self, key: str, endpoint: str) -> tuple[Envelope, int] | None:
        """The L2 entry and its serialized size, or None (absent, unreadable, or Redis unavailable)."""
        if self.l2 is None:
            return None
        try:
            raw = await self.l2.get(key)
        except Exception as exc:  # Redis down, breaker open, timeout: degrade to the next tier
            self._stats.record("l2", endpoint, "error")
            log.debug("L2 get %s failed: %s", key, exc)
            return None
        if raw is None:
            self._stats.record("l2", endpoint, "miss")
            return None
        try:
            envelope = decode(raw)
        except (ValueError, KeyError, TypeError) as exc:  # not written by this cache: treat as absent
            self._stats.record("l2", endpoint, "error")
            log.warning("L2 entry %s is not a cache envelope (%s); recomputing", key, exc)
            return None
        self._stats.record("l2", endpoint, "hit")
        return envelope, len(raw)

    async def _load(
        self, key: str, loader: Loader[T], endpoint: str, ttl_s: float | None, l3: Loader[T | None] | None
    ) -> Envelope:
        epoch = self._epoch
        start = self._clock()
        value: Any = None
        if l3 is not None:
            value = await l3()
            self._stats.record("l3", endpoint, "miss" if value is None else "hit")
        if value is None:
            self._stats.record("origin", endpoint, "load")
            value = await loader()
        now = self._clock()
        ttl = self.config.l2_ttl_s if ttl_s is None else ttl_s
        envelope = Envelope(value, max(now - start, 1e-6), now + ttl)
        if epoch == self._epoch:
            await self._store(key, envelope)
        return envelope

    async def _store(self, key: str, envelope: Envelope) -> None:
        try:
            data = encode(envelope)
        except TypeError as exc:
            raise TypeError(f"cache value for {key!r} is not JSON-compatible: {exc}") from None
        self._store_l1(key, envelope, len(data))
        if self.l2 is not None:
            try:
                await self.l2.set(key, data, envelope.expiry - self._clock())
            except Exception as exc:
                log.debug("L2 set %s failed: %s", key, exc)

    def _store_l1(self, key: str, envelope: Envelope, size: int) -> None:
        """Keep in L1 for the L1 TTL, or less if the value expires sooner; `size` is its serialized length."""
        remaining = envelope.expiry - self._clock()
        if remaining <= 0:
            return
        self.l1.set(key, envelope, size, min(self.config.l1_ttl_s, remaining))

    def _maybe_refresh_early(
        self,
        key: str,
        envelope: Envelope,
        loader: Loader[Any],
        endpoint: str,
        ttl_s: float | None,
        l3: Loader[Any] | None,
    ) -> None:
        if self._flight.in_flight(key):
            return
        if not should_refresh_early(
            self._clock(), envelope.expiry, envelope.delta, self.config.xfetch_beta, self._rand
        ):
            return
        self.early_refreshes += 1
        CACHE_EARLY_REFRESHES.labels(endpoint).inc()
        task, _ = self._flight.start(key, lambda: self._refresh(key, loader, endpoint, ttl_s, l3))
        self._track(task)

    async def _refresh(
        self, key: str, loader: Loader[Any], endpoint: str, ttl_s: float | None, l3: Loader[Any] | None
    ) -> Envelope:
        """An early refresh: recompute (L3 first if given) without counting a miss."""
        epoch = self._epoch
        start = self._clock()
        value = await l3() if l3 is not None else None
        if value is None:
            value = await loader()
        now = self._clock()
        ttl = self.config.l2_ttl_s if ttl_s is None else ttl_s
        envelope = Envelope(value, max(now - start, 1e-6), now + ttl)
        if epoch == self._epoch:
            await self._store(key, envelope)
        return envelope

    # -- invalidation ---------------------------------------------------------------------------
    async def invalidate(self, key: str) -> None:
        self._epoch += 1
        self.l1.delete(key)
        await self._l2_and_broadcast("key", key, lambda l2: l2.delete(key))

    async def invalidate_prefix(self, prefix: str) -> None:
        self._epoch += 1
        self.l1.delete_prefix(prefix)
        await self._l2_and_broadcast("prefix", prefix, lambda l2: l2.delete_prefix(prefix))

    async def flush(self) -> None:
        self._epoch += 1
        self.l1.clear()
        await self._l2_and_broadcast("flush", "", lambda l2: l2.delete_prefix(""))

    async def _l2_and_broadcast(self, op: str, arg: str, l2_op: Callable[[RedisTier], Any]) -> None:
        if self.l2 is None or self.bus is None:
            return
        try:
            await l2_op(self.l2)
        except Exception as exc:
            log.warning("cache invalidation %s %r not applied to Redis: %s (L2 TTL is the backstop)", op, arg, exc)
        try:
            await self.bus.publish(op, arg)
        except Exception as exc:
            log.warning("cache invalidation %s %r not broadcast: %s (L1 TTL is the backstop)", op, arg, exc)

    def _apply_remote(self, op: str, arg: str) -> None:
        """An invalidation published by another service process."""
        self._epoch += 1
        if op == "key":
            self.l1.delete(arg)
        elif op == "prefix":
            self.l1.delete_prefix(arg)
        elif op == "flush":
            self.l1.clear()

    # -- lifecycle, warming ---------------------------------------------------------------------
    async def start(self) -> None:
        if self.views is not None:
            self.views.start()
        if self.bus is not None:
            await self.bus.start()
        if self.l2 is not None:
            await self.warm_from_l2()
        if self.hot is not None:
            self._track(asyncio.create_task(self.hot.run(), name="cache-hot-keys"))

    async def close(self) -> None:
        if self.hot is not None:
            await self.hot.flush()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.bus is not None:
            await self.bus.close()
        if self.views is not None:
            await self.views.close()

    async def warm_from_l2(self) -> int:
        """Copy the most-read keys (as recorded by earlier processes) from Redis into L1."""
        if self.hot is None:
            return 0
        return await self.hot.warm(self.config.warm_keys, self._store_raw_l1)

    def _store_raw_l1(self, key: str, raw: bytes | str) -> None:
        try:
            envelope = decode(raw)
        except (ValueError, KeyError, TypeError):
            return
        self._store_l1(key, envelope, len(raw))

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- reporting ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        snapshot = self._stats.snapshot()
        snapshot["profile"] = self.profile
        snapshot["sizes"] = {"l1": self.l1.describe(), "l2": {"ttl_s": self.config.l2_ttl_s}}
        snapshot["early_refreshes"] = self.early_refreshes
        if self.l2 is not None:
            snapshot["redis_breaker"] = self.l2.policy.breaker.describe() if self.l2.policy.breaker else None
        if self.bus is not None:
            snapshot["invalidation"] = self.bus.describe()
        if self.views is not None:
            snapshot["sizes"]["l3"] = self.views.describe()
        return snapshot
