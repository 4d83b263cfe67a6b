"""Offline cache analysis: hand-computed traces, OPT >= LRU, and OPT equal to an exhaustive search."""

from __future__ import annotations

import functools
import random
from collections import Counter

import pytest

from harness.cache_sim import belady_hit_ratio, lru_hit_ratio, next_uses, unbounded_hit_ratio, zipf_trace

TRACE = list("ABCABDABCD")  # positions 0..9


def test_hand_computed_lru() -> None:
    # capacity 2 thrashes on this trace: every read evicts the key needed next.
    assert lru_hit_ratio(TRACE, 2) == 0.0
    # capacity 3: A B C miss; A B hit; D evicts C; A B hit; C evicts A... -> hits at 3, 4, 6, 7
    assert lru_hit_ratio(TRACE, 3) == pytest.approx(4 / 10)
    assert lru_hit_ratio(list("AAAA"), 1) == pytest.approx(3 / 4)


def test_hand_computed_belady() -> None:
    # capacity 2: keep A over B at 2 (next uses 3 vs 4), A hit at 3, keep A at 5, A hit at 6,
    # then keep D (next use 9) over the never-again A and B: hits at 3, 6, 9.
    assert belady_hit_ratio(TRACE, 2) == pytest.approx(3 / 10)
    assert belady_hit_ratio(TRACE, 2, warmup=5) == pytest.approx(2 / 5)
    assert belady_hit_ratio(list("ABCABC"), 2) == pytest.approx(2 / 6)
    # capacity >= distinct keys: only compulsory misses
    assert belady_hit_ratio(TRACE, 4) == pytest.approx(6 / 10)
    assert unbounded_hit_ratio(TRACE) == pytest.approx(6 / 10)


def test_next_uses() -> None:
    never = next_uses("A")[0]
    assert next_uses(list("ABAB")) == [2, 3, never, never]


def _optimal_hits(trace: tuple[str, ...], capacity: int) -> int:
    """Exhaustive search over every eviction choice of a demand cache (tiny traces only)."""

    @functools.cache
    def best(i: int, cache: frozenset[str]) -> int:
        if i == len(trace):
            return 0
        key = trace[i]
        if key in cache:
            return 1 + best(i + 1, cache)
        if len(cache) < capacity:
            return best(i + 1, cache | {key})
        return max(best(i + 1, (cache - {victim}) | {key}) for victim in cache)

    return best(0, frozenset())


@pytest.mark.parametrize("seed", range(12))
def test_belady_is_the_optimum_on_small_traces(seed: int) -> None:
    rng = random.Random(seed)
    trace = tuple(rng.choice("ABCDE") for _ in range(11))
    for capacity in (1, 2, 3):
        assert belady_hit_ratio(trace, capacity) * len(trace) == pytest.approx(_optimal_hits(trace, capacity))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("alpha", [0.6, 1.0, 1.3])
def test_belady_never_below_lru(seed: int, alpha: float) -> None:
    trace = zipf_trace(range(1, 501), 4000, alpha, seed)
    previous = 0.0
    for capacity in (1, 5, 25, 100, 400, 600):
        opt = belady_hit_ratio(trace, capacity, warmup=500)
        lru = lru_hit_ratio(trace, capacity, warmup=500)
        assert opt >= lru
        assert opt >= previous  # more room never hurts the optimum
        assert opt <= unbounded_hit_ratio(trace, warmup=500) + 1e-12
        previous = opt


def test_zipf_trace_is_seeded_and_skewed() -> None:
    keys = list(range(100, 1100))
    first = zipf_trace(keys, 5000, 1.1, seed=7)
    assert first == zipf_trace(keys, 5000, 1.1, seed=7)
    assert first != zipf_trace(keys, 5000, 1.1, seed=8)
    assert set(first) <= set(keys)
    counts = Counter(first).most_common()
    assert counts[0][1] > 10 * (5000 / len(keys))  # the hottest key is far above the uniform share
    uniform = Counter(zipf_trace(keys, 5000, 0.0, seed=7)).most_common(1)[0][1]
    assert uniform < counts[0][1] / 5


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="capacity"):
        lru_hit_ratio(TRACE, 0)
    with pytest.raises(ValueError, match="warmup"):
        belady_hit_ratio(TRACE, 2, warmup=10)
    with pytest.raises(ValueError, match="at least one key"):
        zipf_trace([], 10, 1.0, 1)
