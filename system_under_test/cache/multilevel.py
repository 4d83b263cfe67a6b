"""The optimized cache: L1 in-process -> L2 Redis -> (L3 materialized view) -> loader.

Each stored value travels in an envelope `{"v": value, "d": delta, "e": expiry}`: `delta` is how long
the value took to compute and `expiry` the wall-clock time its L2 lifetime ends. Any reader (L1 or L2
hit) applies the XFetch rule to them and, when it fires, starts one background recomputation while
still answering with the current value. Misses are coalesced per key (single-flight).

A Redis failure never fails a read: the L2 lookup is recorded as an `error` and the read goes on to
L3 / the loader (the `redis` breaker makes that skip immediate while Redis is down).

Consistency under writes (docs/resilience-and-caching.md, "Consistency"):
- an invalidation poisons the in-flight loads of the keys it covers: they answer the callers that were
  already waiting but are not stored, and later readers start a fresh load;
- a load stores into L2 only if no invalidation covering its key happened since it began (a lease: the
  L2 miss read the invalidation sequence number, each invalidation leaves a tombstone numbered after it);
- from the moment an invalidation is applied locally until Redis confirms it (its delete may still be on
  the way; it may fail and be queued and retried) this process neither reads nor writes L2 for the keys
  it covers: an L2 read in that gap would copy the old value back into L1;
- a miss on a key written in the last `recent_write_window_s` is loaded from the primary, skipping L3.

stale-if-error (RFC 5861, cache/stale.py): L1 keeps an expired entry, and Redis an expired envelope,
for `stale_if_error_s` more seconds; when the load of a missed key fails on a dependency, a caller with
such a copy at hand gets it (marked STALE, counted) instead of the error. Invalidations delete it.
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
from .bypass import L2Bypass
from .config import CacheConfig
from .consistency import READ_PRIMARY, RecentWrites, key_matches, tombstone_scopes
from .invalidation import InvalidationBus
from .l1 import L1Cache
from .materialized import MaterializedViews
from .redis_tier import RedisTier
from .singleflight import SingleFlight
from .stale import dependency_failed
from .stats import CACHE_EARLY_REFRESHES, CacheStats
from .warming import HotKeys
from .xfetch import should_refresh_early

log = logging.getLogger(__name__)

#: Tombstones outlive any load that began before them; a load running longer is not stored in L2.
TOMBSTONE_TTL_S = 120.0
RETRY_MIN_S = 0.05
RETRY_MAX_S = 2.0
MAX_PENDING = 1000  # queued invalidations beyond this collapse into one flush


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
        self.l1 = L1Cache(
            config.l1_max_entries, config.l1_max_bytes, config.l1_ttl_s, clock=clock, grace_s=config.stale_if_error_s
        )
        self.l2 = RedisTier(redis_client, redis_policy) if redis_client is not None and redis_policy else None
        self.bus = InvalidationBus(self.l2, self._apply_remote) if self.l2 is not None else None
        self.l2_bypass = L2Bypass(config.l2_min_hit_ratio)  # skip L2 while it does not hit (cache/bypass.py)
        self._flight = SingleFlight()
        self._stats = CacheStats()
        self._poisoned: set[asyncio.Task[Any]] = set()  # in-flight loads an invalidation overtook
        self.recent = RecentWrites(max(60.0, 2 * config.mv_refresh_s))
        self._pending: list[tuple[str, str]] = []  # invalidations Redis has not confirmed yet (op, target)
        self._applying: list[tuple[str, str]] = []  # invalidations being applied to Redis right now
        self._retrying: asyncio.Task[None] | None = None
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
        stale: Envelope | None = self.l1.get_stale(key)
        asked = time.monotonic()
        found, seq = await self._l2_get(key, endpoint)
        if found is not None:
            envelope, size = found
            if envelope.expiry > self._clock():
                if not self.recent.written_since(key, asked):  # an invalidation overtook the read: don't keep it
                    self._store_l1(key, envelope, size)
                self._maybe_refresh_early(key, envelope, loader, endpoint, ttl_s, l3)
                return envelope.value
            if not self.recent.written_since(key, asked) and (stale is None or envelope.expiry > stale.expiry):
                stale = envelope  # expired, kept in Redis for the stale-if-error grace
        task, leader = self._flight.start(key, lambda: self._load(key, loader, endpoint, ttl_s, l3, seq))
        if not leader:
            self._stats.record("origin", endpoint, "coalesced")
        try:
            return (await asyncio.shield(task)).value
        except Exception as exc:
            if stale is None or not dependency_failed(exc) or not self._within_grace(key, stale, asked):
                raise
            log.info("serving %s stale (%.1f s past expiry): %s", key, self._clock() - stale.expiry, exc)
            self._stats.record_stale(endpoint)
            return stale.value

    def _within_grace(self, key: str, stale: Envelope, asked: float) -> bool:
        """A stale copy may answer: expired less than the grace ago and not invalidated since it was read."""
        if self.recent.written_since(key, asked):
            return False
        return self._clock() < stale.expiry + self.config.stale_if_error_s

    async def _l2_get(self, key: str, endpoint: str) -> tuple[tuple[Envelope, int] | None, int | None]:
        """(the L2 entry and its serialized size, or None; an entry past its expiry is in its stale-if-error
        grace, counted a miss), and the invalidation sequence number read with it (None when Redis was not
        read: the load then is not stored in L2)."""
        if self.l2 is None or self._is_pending(key) or not self.l2_bypass.consult():
            return None, None
        try:
            raw, seq = await self.l2.get_with_seq(key)
        except Exception as exc:  # Redis down, breaker open, timeout: degrade to the next tier
            self._stats.record("l2", endpoint, "error")
            log.debug("L2 get %s failed: %s", key, exc)
            return None, None
        if raw is None:
            self._stats.record("l2", endpoint, "miss")
            self.l2_bypass.record(False)
            return None, seq
        try:
            envelope = decode(raw)
        except (ValueError, KeyError, TypeError) as exc:  # not written by this cache: treat as absent
            self._stats.record("l2", endpoint, "error")
            log.warning("L2 entry %s is not a cache envelope (%s); recomputing", key, exc)
            return None, seq
        live = envelope.expiry > self._clock()
        self._stats.record("l2", endpoint, "hit" if live else "miss")
        self.l2_bypass.record(live)
        return (envelope, len(raw)), seq

    async def _load(
        self,
        key: str,
        loader: Loader[T],
        endpoint: str,
        ttl_s: float | None,
        l3: Loader[T | None] | None,
        seq: int | None,
        *,
        early: bool = False,
    ) -> Envelope:
        """Compute `key` (L3 first unless written recently), then store it unless an invalidation overtook
        the load. Runs as the single-flight task of `key`; `early` loads are XFetch refreshes (no miss)."""
        start = self._clock()
        began = time.monotonic()
        written = self.recent.last_write(key) is not None
        value: Any = None
        token = READ_PRIMARY.set(True) if written else None
        try:
            if l3 is not None and not written:
                value = await l3()
                if not early:
                    self._stats.record("l3", endpoint, "miss" if value is None else "hit")
            if value is None:
                if not early:
                    self._stats.record("origin", endpoint, "load")
                value = await loader()
        finally:
            if token is not None:
                READ_PRIMARY.reset(token)
        now = self._clock()
        ttl = self.config.l2_ttl_s if ttl_s is None else ttl_s
        envelope = Envelope(value, max(now - start, 1e-6), now + ttl)
        if asyncio.current_task() not in self._poisoned:
            lasted = time.monotonic() - began
            await self._store(key, envelope, None if lasted >= TOMBSTONE_TTL_S else seq)
        return envelope

    async def _store(self, key: str, envelope: Envelope, seq: int | None) -> None:
        """L1, and L2 if the load's sequence number is known (the store is refused if a tombstone is newer).

        A value only L1 keeps is not serialized: a rendered body (str) counts its length against the L1
        byte bound (the JSON of it escapes quotes, so it is longer than what L1 holds). On the miss path
        the adaptive L2 bypass skips 63 of 64 stores, and serializing a 3 KB body for nothing took the
        cache's own time per miss from 13 to 22 us (20,000 misses without L2, against 5 us for the
        baseline's dict)."""
        to_l2 = self.l2 is not None and seq is not None and not self._is_pending(key)
        if isinstance(envelope.value, str) and not to_l2:
            self._store_l1(key, envelope, len(envelope.value))
            return
        try:
            data = encode(envelope)
        except TypeError as exc:
            raise TypeError(f"cache value for {key!r} is not JSON-compatible: {exc}") from None
        self._store_l1(key, envelope, len(data))
        if self.l2 is not None and to_l2:
            try:
                stored = await self.l2.store_unless_invalidated(
                    key,
                    data,
                    envelope.expiry - self._clock() + self.config.stale_if_error_s,  # kept for the grace
                    seq,
                    tombstone_scopes(key),
                )
            except Exception as exc:
                log.debug("L2 set %s failed: %s", key, exc)
                return
            if not stored:
                self.l1.delete(key)  # an invalidation from another process overtook this load

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

        async def refresh() -> Envelope:
            seq = None
            if self.l2 is not None and not self._is_pending(key):
                try:
                    seq = await self.l2.seq()
                except Exception as exc:
                    log.debug("L2 seq for early refresh of %s failed: %s", key, exc)
            return await self._load(key, loader, endpoint, ttl_s, l3, seq, early=True)

        task, _ = self._flight.start(key, refresh)
        self._track(task)

    # -- invalidation ---------------------------------------------------------------------------
    async def invalidate(self, key: str) -> None:
        await self._invalidate("key", key)

    async def invalidate_prefix(self, prefix: str) -> None:
        await self._invalidate("prefix", prefix)

    async def flush(self) -> None:
        await self._invalidate("flush", "")

    async def _invalidate(self, op: str, target: str) -> None:
        self._apply_local(op, target)
        if self.l2 is None or self.bus is None:
            return
        if self._pending:  # keep order: this one waits behind the queued ones
            self._queue(op, target)
            return
        item = (op, target)
        self._applying.append(item)
        try:
            await self._apply_redis(op, target)
        except Exception as exc:
            log.warning("cache invalidation %s %r not applied to Redis (%s): queued for retry", op, target, exc)
            self._queue(op, target)
        finally:
            self._applying.remove(item)

    def _apply_local(self, op: str, target: str) -> None:
        """Drop the covered L1 entries, poison the covered in-flight loads, remember the write."""
        is_prefix = op != "key"
        if op == "key":
            self.l1.delete(target)
        elif op == "prefix":
            self.l1.delete_prefix(target)
        else:
            self.l1.clear()
        self.recent.record(target, is_prefix)
        for task in self._flight.forget(lambda key: key_matches(key, target, is_prefix)):
            self._poisoned.add(task)
            task.add_done_callback(self._poisoned.discard)

    async def _apply_redis(self, op: str, target: str) -> None:
        """Tombstone, delete, broadcast: in this order, so no load that began before can store afterwards."""
        assert self.l2 is not None and self.bus is not None
        await self.l2.tombstone(target, TOMBSTONE_TTL_S)
        if op == "key":
            await self.l2.delete(target)
        else:
            await self.l2.delete_prefix(target)
        await self.bus.publish(op, target)

    def _queue(self, op: str, target: str) -> None:
        self._pending.append((op, target))
        if len(self._pending) > MAX_PENDING:
            self._pending = [("flush", "")]
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry_pending(), name="cache-invalidation-retry")
            self._track(self._retrying)

    async def _retry_pending(self) -> None:
        delay = RETRY_MIN_S
        while self._pending:
            await asyncio.sleep(delay)
            op, target = self._pending[0]
            try:
                await self._apply_redis(op, target)
            except Exception as exc:
                delay = min(delay * 2, RETRY_MAX_S)
                log.debug("cache invalidation %s %r retry failed: %s", op, target, exc)
                continue
            self._pending.pop(0)
            delay = RETRY_MIN_S

    def _is_pending(self, key: str) -> bool:
        """An invalidation covering `key` has not reached Redis yet: L2 may hold the old value."""
        return any(key_matches(key, target, op != "key") for op, target in (*self._applying, *self._pending))

    def _apply_remote(self, op: str, arg: str) -> None:
        """An invalidation published by another service process."""
        if op in ("key", "prefix", "flush"):
            self._apply_local(op, arg)

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
        snapshot["stale_if_error_s"] = self.config.stale_if_error_s
        snapshot["pending_invalidations"] = len(self._pending)
        if self.l2 is not None:
            snapshot["redis_breaker"] = self.l2.policy.breaker.describe() if self.l2.policy.breaker else None
            snapshot["l2_batching"] = self.l2.batching()
            snapshot["l2_bypass"] = self.l2_bypass.describe()
        if self.bus is not None:
            snapshot["invalidation"] = self.bus.describe()
        if self.views is not None:
            snapshot["sizes"]["l3"] = self.views.describe()
        return snapshot
