"""cache_hit_ratio: a seeded Zipf read trace replayed against the service, beside its offline limits.

Each repetition (seed `seed + r`):

1. Starts cold: when athbench runs Redis itself, it is flushed (an external Redis is never flushed,
   `details.l2_flushed` says so); the service is restarted, with `ATHBENCH_L1_MAX_ENTRIES` set when
   `l1_max_entries` > 0.
2. Replays the trace (energy assessment by property id) in trace order with `concurrency` requests in
   flight; the first `warmup_requests` fill the caches and are not counted. With `restart_after_warmup`
   the service is restarted between the warm-up and the measured part, as a deploy (or a second pod
   behind a load balancer) meets it: what survives is what lives outside the process (Redis, the
   materialized views) plus what the service warms at start-up.
3. Reads the service's `athbench_cache_requests_total{tier,endpoint,result}` before and after the
   measured part: per-tier ratio = hits / lookups of that tier (an L2 lookup happens only after an L1
   miss), overall = 1 - (origin loads + coalesced) / requests: a read that joined another's in-flight
   load (single-flight) found no cached value and is a miss, as in the simulations below.
4. Computes, for the same trace and the L1's capacity in entries, the LRU and the Belady (offline
   optimum) hit ratios over the same measured part (`harness.cache_sim`), given each read's send and
   completion times: a read sent before the miss that admitted its key completed is a miss (a join)
   there too. The completion time is when the client got the answer, a little after the service stored
   the value, so the simulations may count a few more joins than the service (`details` gives both
   counts). A cache without an entry bound (the baseline's dict) is compared with a never-evicting
   cache. After a restart the offline figures are those of an L1 that starts empty at the measured part.

Tiers a profile does not have (the baseline has no L2 / L3; L3 serves only the views-backed endpoints)
are left out of `metrics` rather than recorded as 0; `details.absent_tiers` names them and why.
`cached_latency_p95_ms` is the p95 of measured reads of a key already read earlier in the trace (reads
any cache with room keeps would answer); `details.latency_p95_first_reads_ms` is the other reads.

Details: per-repetition tier counts (`coalesced` among them), capacity, trace shape, replay throughput,
failed requests, the simulations without timing (`lru_sim_instantaneous`), and for the capacity plan
(`reports.capacity_plan`): `lru_curve` (the LRU hit ratio of the measured part for every cache size, from
one pass of Mattson's stack algorithm, `harness.cache_sim.lru_curve`; `[entries, ratio]` pairs on a
geometric grid of at most `CURVE_POINTS` sizes, ending at the trace's distinct keys) and `redis_bytes_per_key`
(mean `MEMORY USAGE` of up to `REDIS_KEY_SAMPLE` of the service's `cache:*` keys after the replay, with
the key count and the dataset bytes per key from `INFO memory`; null with a note when Redis holds none,
as in the baseline, which has no L2).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
import redis

from scenarios.base import (
    MetricSpec,
    Probe,
    Scenario,
    ScenarioContext,
    ScenarioError,
    ScenarioResult,
    cache_sim,
    replay,
)

ASSESSMENT_PATH = "/api/v1/properties/{id}/energy-assessment"
COUNTER = "athbench_cache_requests_total"
ENDPOINT_LABEL = "energy_assessment"
TIERS = ("l1", "l2", "l3")
MAX_FAILED_FRACTION = 0.01
CURVE_POINTS = 60
REDIS_KEY_SAMPLE = 200
REDIS_NAMESPACE = "cache:"

DEFAULTS: dict[str, Any] = {
    "trace_length": 8000,
    "warmup_requests": 2000,
    "zipf_alpha": 1.1,
    "seed": 42,
    "properties": 0,  # 0: every seeded property
    "l1_max_entries": 1000,  # 0: the service's own default
    "concurrency": 4,
    "repetitions": 1,
    "restart_after_warmup": False,
}


def _tier_counts(before: Any, after: Any) -> dict[str, dict[str, int]]:
    """Per tier, the counter's increase by result between two scrapes (`ctx.scrape()`)."""
    counts: dict[str, dict[str, int]] = {}
    for tier, results in {**{t: ("hit", "miss", "error") for t in TIERS}, "origin": ("load", "coalesced")}.items():
        counts[tier] = {
            r: round(
                after.total(COUNTER, tier=tier, endpoint=ENDPOINT_LABEL, result=r)
                - before.total(COUNTER, tier=tier, endpoint=ENDPOINT_LABEL, result=r)
            )
            for r in results
        }
    return counts


def _l1_capacity(base_url: str) -> int | None:
    """The running service's L1 entry bound from its cache analytics; None for an unbounded cache."""
    response = httpx.get(f"{base_url}/api/v1/analytics/cache", timeout=10.0)
    response.raise_for_status()
    l1 = (response.json().get("sizes") or {}).get("l1") or {}
    bound = l1.get("max_entries")
    return int(bound) if bound else None


def _cold_start(ctx: ScenarioContext, l1_max_entries: int) -> bool:
    """Flush athbench's own Redis and restart the service; True if Redis was flushed."""
    flushed = ctx.flush_redis()
    ctx.restart_service(_l1_env(l1_max_entries))
    return flushed


def _l1_env(l1_max_entries: int) -> dict[str, str]:
    return {"ATHBENCH_L1_MAX_ENTRIES": str(l1_max_entries)} if l1_max_entries > 0 else {}


def _latency_p95(probes: list[Probe]) -> float | None:
    values = [p.latency_s * 1000.0 for p in probes if p.status == 200]
    return float(np.percentile(values, 95)) if values else None


def curve_points(curve: Any, points: int = CURVE_POINTS) -> list[list[float]]:
    """`[entries, hit ratio]` on a geometric grid of cache sizes, always including the largest."""
    sizes = np.unique(np.geomspace(1, len(curve), num=min(points, len(curve))).round().astype(int))
    return [[int(c), float(curve[c - 1])] for c in sizes]


def redis_bytes_per_key(redis_url: str) -> dict[str, Any]:
    """What one cached value costs in Redis: mean MEMORY USAGE of sampled `cache:*` keys, and the
    dataset bytes (INFO memory) per key."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5.0)
    try:
        keys = []
        for key in client.scan_iter(match=REDIS_NAMESPACE + "*", count=500):
            keys.append(key)
            if len(keys) >= REDIS_KEY_SAMPLE:
                break
        total = int(client.dbsize())
        info = client.info("memory")
        if not keys:
            return {"bytes_per_key": None, "keys": total, "note": f"no {REDIS_NAMESPACE}* keys in Redis"}
        usage = [int(client.memory_usage(k, samples=0) or 0) for k in keys]
        return {
            "bytes_per_key": float(np.mean(usage)),
            "sampled_keys": len(keys),
            "keys": total,
            "dataset_bytes_per_key": int(info.get("used_memory_dataset", 0)) / total if total else None,
            "method": f"mean MEMORY USAGE (SAMPLES 0) of {len(keys)} {REDIS_NAMESPACE}* keys after the replay",
        }
    finally:
        client.close()


def _one_repetition(ctx: ScenarioContext, params: dict[str, Any], ids: list[int], seed: int) -> dict[str, Any]:
    trace = cache_sim.zipf_trace(ids, params["trace_length"], params["zipf_alpha"], seed)
    warmup = params["warmup_requests"]
    flushed = _cold_start(ctx, params["l1_max_entries"])
    base = ctx.target_url
    paths = [ASSESSMENT_PATH.format(id=i) for i in trace]
    warm = asyncio.run(replay(base, paths[:warmup], concurrency=params["concurrency"]))
    restarted = params["restart_after_warmup"]
    if restarted:
        ctx.restart_service(_l1_env(params["l1_max_entries"]))
        base = ctx.target_url
    before = ctx.scrape()
    t0 = time.perf_counter()
    probes = asyncio.run(replay(base, paths[warmup:], concurrency=params["concurrency"]))
    elapsed = time.perf_counter() - t0
    after = ctx.scrape()
    counts = _tier_counts(before, after)
    if sum(counts["l1"].values()) == 0:
        seen = after.label_values(COUNTER, "endpoint")
        raise ScenarioError(f"no {ENDPOINT_LABEL!r} cache lookups counted during the replay (endpoints seen: {seen})")
    capacity = _l1_capacity(base)
    # after a restart the L1 starts empty at the measured part: simulate that part alone, cold
    sim_trace, sim_warmup = (trace[warmup:], 0) if restarted else (trace, warmup)
    timing = [(p.sent, p.scheduled + p.latency_s) for p in ([] if restarted else warm) + probes]
    if capacity is None:
        lru = belady = cache_sim.unbounded_hit_ratio(sim_trace, sim_warmup, timing)
        instantaneous = cache_sim.unbounded_hit_ratio(sim_trace, sim_warmup)
    else:
        lru = cache_sim.lru_hit_ratio(sim_trace, capacity, sim_warmup, timing)
        belady = cache_sim.belady_hit_ratio(sim_trace, capacity, sim_warmup, timing)
        instantaneous = cache_sim.lru_hit_ratio(sim_trace, capacity, sim_warmup)
    seen_before = set(trace[:warmup])
    repeat, first = [], []
    for probe, key in zip(probes, trace[warmup:], strict=True):
        (repeat if key in seen_before else first).append(probe)
        seen_before.add(key)
    failed = sum(1 for p in probes if p.status != 200)
    try:
        redis_cost = redis_bytes_per_key(ctx.redis_url)
    except (redis.RedisError, ScenarioError) as exc:  # the plan says why it has no figure; the measurement above stands
        redis_cost = {"bytes_per_key": None, "note": f"Redis not measured: {exc}"}
    return {
        "lru_curve": curve_points(cache_sim.lru_curve(sim_trace, sim_warmup)),
        "redis_bytes_per_key": redis_cost,
        "seed": seed,
        "counts": counts,
        "l1_capacity_entries": capacity,
        "l2_flushed": flushed,
        "restarted_after_warmup": restarted,
        "lru_sim": lru,
        "belady": belady,
        "lru_sim_instantaneous": instantaneous,
        "distinct_keys": len(set(trace)),
        "never_evicting_ratio": cache_sim.unbounded_hit_ratio(sim_trace, sim_warmup),
        "cached_p95_ms": _latency_p95(repeat),
        "first_read_p95_ms": _latency_p95(first),
        "requests": len(probes),
        "failed": failed,
        "replay_rps": round(len(probes) / elapsed, 1),
    }


def _ratio(hits: int, lookups: int) -> float | None:
    return hits / lookups if lookups else None


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if not 0 <= params["warmup_requests"] < params["trace_length"]:
        raise ScenarioError(f"warmup_requests must be in [0, trace_length), got {params['warmup_requests']}")
    ids = ctx.data.property_ids
    if params["properties"] > 0:
        ids = ids[: params["properties"]]
    reps = [_one_repetition(ctx, params, ids, params["seed"] + r) for r in range(params["repetitions"])]
    absent: dict[str, str] = {}
    for rep in reps:
        c = rep["counts"]
        requests = sum(c["l1"].values())
        values = {
            "hit_ratio_overall": 1.0 - (c["origin"]["load"] + c["origin"]["coalesced"]) / requests,
            "hit_ratio_belady": rep["belady"],
            "hit_ratio_lru_sim": rep["lru_sim"],
            "cached_latency_p95_ms": rep["cached_p95_ms"],
        }
        for tier in TIERS:
            values[f"hit_ratio_{tier}"] = _ratio(c[tier]["hit"], sum(c[tier].values()))
            if values[f"hit_ratio_{tier}"] is None:
                absent[tier] = f"no {tier.upper()} lookups for {ENDPOINT_LABEL!r} in the {ctx.profile} profile"
        for name, value in values.items():
            ctx.record(name, value)
    failed = sum(r["failed"] for r in reps)
    total = sum(r["requests"] for r in reps)
    if failed > MAX_FAILED_FRACTION * total:
        ctx.invalidate(f"{failed} of {total} replayed reads did not answer 200")
    result.details.update(
        {
            "endpoint": ENDPOINT_LABEL,
            "absent_tiers": absent,
            "offline_reference": (
                "LRU and Belady over the same trace and measured part, demand caches of the L1's entry bound; "
                "an unbounded L1 is compared with a never-evicting cache; reads sent while the load of their key "
                "was in flight are misses (joins) in the simulations as in the measured ratios"
            ),
            "cached_latency": "p95 of measured reads of keys read earlier in the trace",
            "latency_p95_first_reads_ms": [r["first_read_p95_ms"] for r in reps],
            "properties": len(ids),
            "repetitions": reps,
        }
    )


SCENARIO = Scenario(
    name="cache_hit_ratio",
    description="Zipf read trace replayed in order: hit ratio per tier vs offline LRU and Belady",
    run=run,
    defaults=DEFAULTS,
    area="cache",
    metrics=(
        MetricSpec(
            "hit_ratio_overall", "ratio", "higher", "caching", "share of reads answered without loading from the origin"
        ),
        MetricSpec("hit_ratio_l1", "ratio", "higher", "caching", "share of L1 (in-process) lookups that hit"),
        MetricSpec("hit_ratio_l2", "ratio", "higher", "caching", "share of L2 (Redis) lookups that hit"),
        MetricSpec("hit_ratio_l3", "ratio", "higher", "caching", "share of L3 (materialized view) lookups that hit"),
        MetricSpec(
            "hit_ratio_belady",
            "ratio",
            "higher",
            "caching",
            "hit ratio of Belady's optimal cache over the same trace (offline reference)",
        ),
        MetricSpec(
            "hit_ratio_lru_sim",
            "ratio",
            "higher",
            "caching",
            "hit ratio of a simulated LRU cache over the same trace (offline reference)",
        ),
        MetricSpec(
            "cached_latency_p95_ms",
            "ms",
            "lower",
            "caching",
            "95th percentile latency of reads of keys read earlier in the trace",
        ),
    ),
)
