"""Offline cache analysis of a read trace: a seeded Zipf trace generator, LRU and Belady (OPT) hit ratios.

The measured hit ratio of a cache is only meaningful beside what the same trace allows. For a trace and a
capacity in entries, `lru_hit_ratio` replays an LRU cache and `belady_hit_ratio` the offline optimum
(Belady's MIN: on a miss with a full cache, evict the entry whose next use is farthest in the future).
Both are demand caches (every miss is admitted), like the service's L1, so OPT >= LRU on every trace.
Both start empty; `warmup` requests at the start of the trace fill the cache but are not counted.

Coalesced misses. A trace replayed with several requests in flight has reads of a key that arrive while
an earlier miss of that key is still loading; the service answers them by joining that load
(single-flight), and counts them as misses: no cache held the value when they looked. With `timing`
(per read: when it was sent and when it completed, on one clock) the simulations do the same: a read sent
before the completion of the miss that admitted its key is a miss (a join), whatever the policy; the
cache's state is as if it were a hit. Without `timing` reads are instantaneous (no joins).
Belady runs in O(n log n): a next-use index computed backwards, and a max-heap of next uses with lazy
deletion of stale entries.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np

NEVER = 1 << 62  # "next use" of a key that is not read again
Timing = Sequence[tuple[float, float]]  # per read: (sent, completed), on one clock


def zipf_trace(keys: Sequence[int], length: int, alpha: float, seed: int) -> list[int]:
    """`length` reads over `keys`, rank r (1-based) drawn with probability proportional to 1 / r**alpha.

    Which key gets which rank is a seeded permutation, so the hot keys are spread over the key space.
    The same (keys, length, alpha, seed) always gives the same trace.
    """
    if not keys:
        raise ValueError("zipf_trace needs at least one key")
    if length < 1:
        raise ValueError(f"zipf_trace length must be >= 1, got {length}")
    if not alpha >= 0:
        raise ValueError(f"zipf_trace alpha must be >= 0, got {alpha}")
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(keys) + 1, dtype=float) ** alpha
    ranks = rng.choice(len(keys), size=length, p=weights / weights.sum())
    by_rank = np.asarray(keys)[rng.permutation(len(keys))]
    return [int(k) for k in by_rank[ranks]]


def _check(trace: Sequence[Hashable], capacity: int, warmup: int, timing: Timing | None = None) -> None:
    if timing is not None and len(timing) != len(trace):
        raise ValueError(f"timing has {len(timing)} entries for a trace of {len(trace)} reads")
    if capacity < 1:
        raise ValueError(f"cache capacity must be >= 1 entry, got {capacity}")
    if not 0 <= warmup < len(trace):
        raise ValueError(f"warmup must be in [0, {len(trace)}) for a trace of {len(trace)} reads, got {warmup}")


def _joins(timing: Timing | None, loading: dict[Hashable, float], i: int, key: Hashable) -> bool:
    """True when read i of `key` was sent before the load started by the miss that admitted it completed."""
    return timing is not None and key in loading and timing[i][0] < loading[key]


def lru_hit_ratio(trace: Sequence[Hashable], capacity: int, warmup: int = 0, timing: Timing | None = None) -> float:
    """Hit ratio of an LRU cache of `capacity` entries over `trace[warmup:]` (filled by the whole trace);
    with `timing`, reads joining an in-flight load are misses."""
    _check(trace, capacity, warmup, timing)
    cache: OrderedDict[Hashable, None] = OrderedDict()
    loading: dict[Hashable, float] = {}  # key -> when the load of its admitting miss completed
    hits = 0
    for i, key in enumerate(trace):
        if key in cache:
            cache.move_to_end(key)
            hits += i >= warmup and not _joins(timing, loading, i, key)
            continue
        if timing is not None:
            loading[key] = timing[i][1]
        cache[key] = None
        if len(cache) > capacity:
            cache.popitem(last=False)
    return hits / (len(trace) - warmup)


def next_uses(trace: Sequence[Hashable]) -> list[int]:
    """For each position i, the position of the next read of trace[i], or NEVER."""
    following: dict[Hashable, int] = {}
    out = [NEVER] * len(trace)
    for i in range(len(trace) - 1, -1, -1):
        out[i] = following.get(trace[i], NEVER)
        following[trace[i]] = i
    return out


def belady_hit_ratio(trace: Sequence[Hashable], capacity: int, warmup: int = 0, timing: Timing | None = None) -> float:
    """Hit ratio of the offline-optimal demand cache of `capacity` entries over `trace[warmup:]`;
    with `timing`, reads joining an in-flight load are misses."""
    _check(trace, capacity, warmup, timing)
    upcoming = next_uses(trace)
    resident: dict[Hashable, int] = {}  # key -> its next use, the one its live heap entry carries
    heap: list[tuple[int, int, Hashable]] = []  # (-next_use, tiebreak, key); stale entries skipped
    loading: dict[Hashable, float] = {}
    hits = 0
    for i, key in enumerate(trace):
        if key in resident:
            hits += i >= warmup and not _joins(timing, loading, i, key)
        else:
            if timing is not None:
                loading[key] = timing[i][1]
            if len(resident) >= capacity:
                while True:
                    neg_next, _, victim = heapq.heappop(heap)
                    if resident.get(victim) == -neg_next:
                        del resident[victim]
                        break
        resident[key] = upcoming[i]
        heapq.heappush(heap, (-upcoming[i], i, key))
    return hits / (len(trace) - warmup)


def unbounded_hit_ratio(trace: Sequence[Hashable], warmup: int = 0, timing: Timing | None = None) -> float:
    """Hit ratio of a cache that never evicts: every read of a key already read is a hit (with `timing`,
    unless it joined the key's first load)."""
    return lru_hit_ratio(trace, max(len(set(trace)), 1), warmup, timing)


def stack_distances(trace: Sequence[Hashable]) -> np.ndarray:
    """Mattson's LRU stack distance of every read: 1 + the distinct keys read since the previous read of
    the same key (0 for a first read). An LRU cache of C entries hits read i exactly when 0 < d_i <= C.

    One pass, O(n log n): a Fenwick tree over positions marks each key's latest read; the distance is the
    number of marks after the key's previous read.
    """
    size = len(trace)
    tree = [0] * (size + 1)

    def add(pos: int, delta: int) -> None:
        pos += 1
        while pos <= size:
            tree[pos] += delta
            pos += pos & -pos

    def prefix(pos: int) -> int:  # marks at positions < pos
        total = 0
        while pos > 0:
            total += tree[pos]
            pos -= pos & -pos
        return total

    last: dict[Hashable, int] = {}
    out = np.zeros(size, dtype=np.int64)
    marked = 0
    for i, key in enumerate(trace):
        previous = last.get(key)
        if previous is not None:
            out[i] = marked - prefix(previous + 1) + 1
            add(previous, -1)
            marked -= 1
        add(i, 1)
        marked += 1
        last[key] = i
    return out


def lru_curve(trace: Sequence[Hashable], warmup: int = 0) -> np.ndarray:
    """LRU hit ratio over `trace[warmup:]` for every capacity at once (Mattson's stack algorithm):
    element C - 1 is the ratio `lru_hit_ratio(trace, C, warmup)` gives, for C = 1 .. distinct keys
    (larger caches hit no more). Reads are instantaneous here: no coalesced joins."""
    if not 0 <= warmup < len(trace):
        raise ValueError(f"warmup must be in [0, {len(trace)}) for a trace of {len(trace)} reads, got {warmup}")
    distances = stack_distances(trace)[warmup:]
    keys = max(len(set(trace)), 1)
    counts = np.bincount(distances[distances > 0], minlength=keys + 1)[1 : keys + 1]
    return np.cumsum(counts) / len(distances)


def size_for_hit_ratio(curve: Sequence[float], target: float) -> int | None:
    """The smallest capacity (entries) whose hit ratio on `curve` reaches `target`, or None if none does."""
    reached = np.nonzero(np.asarray(curve) >= target)[0]
    return int(reached[0]) + 1 if reached.size else None
