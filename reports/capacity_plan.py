"""A capacity plan and production settings derived from a run's measurements (results format in, plan out).

For a target (the pack's `[plan]` table, recorded as `environment.plan_target`; defaults from the original
assessment: 500 req/s at p95 <= 100 ms, 1,000 concurrent users, 10,000 properties per hour, 1 TB), every
figure carries its inputs (the measured `scenario.metric` or `details` it reads), its rule, and the range
the inputs' 95 % intervals give ("n too small" when an input has none: no interval is invented). The rules:

- pods: the smallest N with C1 x S(N) x `utilization` >= target rate, plus `spare_pods` (N+1), where C1 is
  `capacity.max_sustainable_rps` (one process, within the p95 SLO) and S(N) = X(N) / X(1) the speedup of
  the USL fit over service processes (`horizontal_scaling.details.usl`), or linear (stated) without one;
- requests/limits per pod: CPU and RSS sampled at the nominal load (`api_latency` timeseries):
  request = p95 of the samples, limit = max x 1.5;
- connection pool per process: Little's law L = (target rate / serving pods) x W, W the connection time per
  request (`db_query.details.pool.db_seconds_per_request`, else `db_query.query_mean_ms` as one query per
  request), plus square-root staffing's margin: pool = ceil(L + 2 sqrt(L)), at least 2; PostgreSQL
  `max_connections` = (pods + 1 surge pod) x pool + 13 (10 for backups, monitoring and admin, 3 superuser);
- PostgreSQL memory: pgtune's rules for a web workload (https://github.com/le0pard/pgtune,
  `src/features/configuration/configurationSlice.js`): shared_buffers = RAM / 4, effective_cache_size =
  3 RAM / 4, maintenance_work_mem = min(RAM / 16, 2 GB), work_mem = (RAM - shared_buffers) /
  (3 max_connections) / max(1, parallel workers per gather = min(4, ceil(cpus / 2)) when cpus >= 4),
  wal_buffers = min(3 % of shared_buffers, 16 MB);
- Redis `maxmemory` = entries x bytes per key x 1.2, the entries read from the measured trace's LRU
  hit-ratio curve (`cache_hit_ratio.details.repetitions[].lru_curve`, Mattson's stack algorithm) at the
  target hit ratio, the bytes per key measured from Redis (`redis_bytes_per_key`);
- backup at the target volume: size = volume x `compression_ratio`, time = volume / `backup_throughput_mb_s`,
  restore = volume / (raw MB restored per second of the drill): extrapolations, linear in size, checked
  against the RPO and RTO.

`monitoring` gives the alert thresholds derived from the same plan (p95 SLO, error budget and the
multi-window burn-rate alerts of the Google SRE workbook, chapter 5, breaker open, backup age vs RPO,
memory vs limit); `sizing` turns a plan into the numbers `athbench export` writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from harness.results import Metric, RunResults, ScenarioResult

LIMIT_FACTOR = 1.5
CONNECTION_RESERVE = 13  # 10 for backups, monitoring and admin + superuser_reserved_connections (3)
STAFFING_BETA = 2.0
REDIS_MARGIN = 1.2
MAX_PODS = 500
MB = 1e6
BURN_RATES = (  # (severity, long window, short window, burn rate): SRE workbook, table 5-8
    ("page", "1h", "5m", 14.4),
    ("page", "6h", "30m", 6.0),
    ("ticket", "3d", "6h", 1.0),
)


class PlanError(ValueError):
    """A plan target is malformed: names the key and what was expected."""


@dataclass(frozen=True)
class Target:
    """What the plan sizes for (the pack's `[plan]` table; 0 for the two machine keys: the measured machine)."""

    rps: float = 500.0
    p95_ms: float = 100.0
    concurrent_users: float = 1000.0
    properties_per_hour: float = 10000.0
    data_tb: float = 1.0
    hit_ratio: float = 0.85
    availability: float = 0.999
    rto_h: float = 4.0
    rpo_h: float = 1.0
    utilization: float = 0.7
    spare_pods: float = 1.0
    postgres_memory_gb: float = 0.0
    postgres_cpus: float = 0.0

    @classmethod
    def from_dict(cls, raw: Any, where: str = "plan") -> Target:
        """A target from a table of numbers; an unknown key or a bad value is a PlanError naming it."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise PlanError(f"{where}: expected a table of numbers, got {raw!r}")
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for key, value in raw.items():
            if key not in known:
                raise PlanError(f"{where}.{key}: not a plan key (keys: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PlanError(f"{where}.{key}: expected a number, got {value!r}")
            if value < 0:
                raise PlanError(f"{where}.{key}: expected a number >= 0, got {value!r}")
            values[key] = float(value)
        target = cls(**values)
        for key in ("hit_ratio", "availability", "utilization"):
            if not 0 < getattr(target, key) < 1 + (key == "utilization"):
                raise PlanError(f"{where}.{key}: expected a fraction in (0, 1), got {getattr(target, key)!r}")
        return target

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Figure:
    """One planned figure: its value and range, the rule, the inputs, how sure it is."""

    key: str
    label: str
    value: float | None
    unit: str
    rule: str
    inputs: list[str] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    uncertainty: str = ""
    extrapolated: bool = False

    @property
    def derived(self) -> bool:
        return self.value is not None

    @property
    def text(self) -> str:
        """The value with its unit ("not derived" without one)."""
        return "not derived" if self.value is None else f"{_num(self.value)} {self.unit}"

    @property
    def range_text(self) -> str:
        """The range the inputs' intervals give, or "-"."""
        if self.low is None or self.high is None:
            return "-"
        if _num(self.low) == _num(self.high):
            return f"the same at both ends of the inputs' intervals: {_num(self.low)} {self.unit}"
        return f"{_num(self.low)}-{_num(self.high)} {self.unit}"


@dataclass
class Alert:
    """One alert of the monitoring section, as exported (`harness.exports.prometheus_rules`)."""

    name: str
    condition: str
    threshold: float
    unit: str
    for_: str
    severity: str
    rule: str
    measured: str = ""


@dataclass
class Plan:
    """The plan of one profile of a run."""

    profile: str
    target: Target
    figures: list[Figure]
    alerts: list[Alert]

    def figure(self, key: str) -> Figure:
        for fig in self.figures:
            if fig.key == key:
                return fig
        raise KeyError(key)

    def value(self, key: str) -> float | None:
        return self.figure(key).value


# ---- reading the results ----------------------------------------------------------------------------


def _scenario(run: RunResults, profile: str, name: str) -> ScenarioResult | None:
    found = run.scenario(name, profile)
    return found if found is not None and found.status in ("complete", "incomplete") else None


def _metric(run: RunResults, profile: str, key: str) -> Metric | None:
    name, metric = key.split(".")
    found = _scenario(run, profile, name)
    return None if found is None else found.metrics.get(metric)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}" if value != int(value) else str(int(value))


def describe(key: str, m: Metric) -> str:
    """`scenario.metric = median unit (95 % CI lo-hi, n=N)` or `(n=N, n too small)`."""
    sign = {"at_least": ">= ", "at_most": "<= "}.get(m.bound, "")
    if m.ci95 is None:
        spread = "n too small"
    elif _num(m.ci95[0]) == _num(m.ci95[1]):
        spread = f"the central repetitions tied at {_num(m.ci95[0])}"
    else:
        spread = f"95 % CI {_num(m.ci95[0])}-{_num(m.ci95[1])}"
    return f"{key} = {sign}{_num(m.median)} {m.unit} ({spread}, n={m.n})".replace("  ", " ")


def _ends(m: Metric) -> tuple[float, float] | None:
    return None if m.ci95 is None else (m.ci95[0], m.ci95[1])


def _missing(key: str, label: str, unit: str, rule: str, why: str) -> Figure:
    return Figure(key, label, None, unit, rule, uncertainty=f"not derived: {why}")


def _span(fig: Figure, low: float | None, high: float | None, why_none: str) -> Figure:
    """Set the range of `fig` (sorted), or say why there is none."""
    if low is None or high is None:
        fig.uncertainty = why_none
    else:
        fig.low, fig.high = min(low, high), max(low, high)
        fig.uncertainty = "range from the inputs' 95 % intervals"
    return fig


# ---- pods -------------------------------------------------------------------------------------------


def _usl(run: RunResults, profile: str) -> tuple[dict[str, Any] | None, str]:
    """horizontal_scaling's fit over service processes, or None and why it is not used for pods. A fit
    whose largest process count left no core free (the generator, PostgreSQL and Redis share the machine)
    measured contention for that machine, not how pods on their own nodes scale: it is not used."""
    found = _scenario(run, profile, "horizontal_scaling")
    if found is None:
        return None, "horizontal_scaling not measured"
    usl = found.details.get("usl") or {}
    if "lambda" not in usl:
        return None, str(usl.get("error", "horizontal_scaling has no fit"))
    cpus = (found.details.get("machine") or {}).get("cpus")
    workers = max((int(p.get("workers", 0)) for p in found.details.get("points", [])), default=0)
    if cpus is not None and workers >= int(cpus):
        return None, (
            f"the fit over processes was measured with up to {workers} workers on {cpus} cores shared with "
            "the generator and the database: contention for that machine, not pods on their own nodes"
        )
    return usl, ""


def _speedup(n: float, sigma: float, kappa: float) -> float:
    """X(N) / X(1) of the USL (lambda cancels)."""
    return n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def pods_needed(
    capacity_rps: float, target_rps: float, utilization: float, sigma: float = 0.0, kappa: float = 0.0
) -> int | None:
    """Smallest N with capacity x S(N) x utilization >= target (None: no N up to MAX_PODS reaches it)."""
    for n in range(1, MAX_PODS + 1):
        if capacity_rps * _speedup(n, sigma, kappa) * utilization >= target_rps:
            return n
    return None


def _pods(run: RunResults, profile: str, t: Target) -> tuple[Figure, dict[str, Any]]:
    rule = (
        f"smallest N with C1 x S(N) x {t.utilization:g} >= {_num(t.rps)} req/s (keep {1 - t.utilization:.0%} "
        f"headroom), plus {t.spare_pods:g} spare (N+1)"
    )
    cap = _metric(run, profile, "capacity.max_sustainable_rps")
    if cap is None:
        return _missing("pods", "service pods", "pods", rule, "capacity.max_sustainable_rps not measured"), {}
    usl, why_not = _usl(run, profile)
    inputs = [describe("capacity.max_sustainable_rps", cap) + " per process within the p95 SLO"]
    scenarios_ci: list[tuple[float, float]] = []
    if usl is not None:
        sigma, kappa = float(usl["sigma"]), float(usl["kappa"])
        ci = usl.get("ci95") or {}
        inputs.append(
            f"horizontal_scaling.details.usl over processes: sigma = {_num(sigma)}, kappa = {_num(kappa)}, "
            f"peak at {_num(usl.get('peak_concurrency'))} processes"
            + (f" ({usl['ci_note']})" if usl.get("ci_note") else "")
        )
        if ci.get("sigma") and ci.get("kappa") and None not in (*ci["sigma"], *ci["kappa"]):
            scenarios_ci = [(ci["sigma"][0], ci["kappa"][0]), (ci["sigma"][1], ci["kappa"][1])]
        scaling = "S(N) from the USL fit over service processes"
    else:
        sigma = kappa = 0.0
        inputs.append(f"no USL fit over processes used ({why_not})")
        scaling = "S(N) = N assumed (linear, optimistic: the pods share one database; no usable USL fit in this run)"
    spare = int(t.spare_pods)
    n = pods_needed(cap.median, t.rps, t.utilization, sigma, kappa)
    fig = Figure("pods", "service pods", None if n is None else n + spare, "pods", f"{rule}; {scaling}", inputs)
    if n is None:
        peak = max(_speedup(k, sigma, kappa) for k in range(1, MAX_PODS + 1)) * cap.median * t.utilization
        fig.uncertainty = (
            f"not reachable by adding pods: the fitted curve tops at {_num(peak)} req/s of usable capacity "
            f"(C1 x max S x {t.utilization:g}) below {_num(t.rps)} req/s"
        )
        return fig, {"sigma": sigma, "kappa": kappa, "serving": None}
    ends = _ends(cap)
    if ends is None:
        fig.uncertainty = f"n too small: capacity.max_sustainable_rps has no interval (n={cap.n})"
    else:
        worst = [pods_needed(ends[0], t.rps, t.utilization, s, k) for s, k in (scenarios_ci or [(sigma, kappa)])]
        best = [pods_needed(ends[1], t.rps, t.utilization, s, k) for s, k in (scenarios_ci or [(sigma, kappa)])]
        high = None if None in worst else max(w for w in worst if w is not None) + spare
        low = None if None in best else min(b for b in best if b is not None) + spare
        _span(fig, low, high, "the interval's low end reaches no pod count")
    if cap.bound == "at_least":
        fig.uncertainty += "; capacity is a lower bound (the search ended at the generator): pods are at most this"
    return fig, {"sigma": sigma, "kappa": kappa, "serving": n}


# ---- resources per pod ------------------------------------------------------------------------------


def _series(run: RunResults, profile: str, scenario: str, name: str) -> list[float]:
    found = _scenario(run, profile, scenario)
    series = found.timeseries.get(name) if found else None
    return [] if series is None else [float(v) for v in series.v if v is not None and math.isfinite(float(v))]


def _resources(run: RunResults, profile: str) -> list[Figure]:
    found = _scenario(run, profile, "api_latency")
    throughput = _metric(run, profile, "api_latency.throughput_rps")
    rate = throughput.median if throughput else (found.params.get("rate") if found else None)
    where = f"{_num(rate)} req/s, the nominal load (conservative when a pod's share is less)"
    out = []
    for kind, series, unit, scale, metric in (
        ("cpu", "service_cpu_percent", "m", 10.0, "api_latency.service_cpu_percent"),
        ("memory", "service_rss_mb", "Mi", 1.0, "memory_footprint.rss_steady_mb"),
    ):
        values = _series(run, profile, "api_latency", series)
        source = f"api_latency.timeseries.{series}"
        if not values and kind == "memory":
            values, source = _series(run, profile, "memory_footprint", series), "memory_footprint.timeseries.rss"
        rule_req = "p95 of the samples" + (" (% of one core x 10 = millicores)" if kind == "cpu" else " (MiB)")
        if not values:
            out.append(_missing(f"{kind}_request", f"{kind} request", unit, rule_req, f"{source} not recorded"))
            out.append(_missing(f"{kind}_limit", f"{kind} limit", unit, "max x 1.5", f"{source} not recorded"))
            continue
        p95, peak = float(np.percentile(values, 95)), max(values)
        inputs = [f"{source}: {len(values)} samples at {where}, p95 {_num(p95)}, max {_num(peak)}"]
        m = _metric(run, profile, metric)
        note = "a percentile of one autocorrelated sampled series: no interval"
        if m is not None:
            inputs.append(describe(metric, m))
            note += f"; the level's own spread: {describe(metric, m)}"
        out.append(
            Figure(
                f"{kind}_request", f"{kind} request", math.ceil(p95 * scale), unit, rule_req, inputs, uncertainty=note
            )
        )
        out.append(
            Figure(
                f"{kind}_limit",
                f"{kind} limit",
                math.ceil(peak * LIMIT_FACTOR * scale),
                unit,
                f"max of the samples x {LIMIT_FACTOR:g}",
                inputs,
                uncertainty=note,
            )
        )
    return out


# ---- database connections and memory ----------------------------------------------------------------


def pool_size(rate_rps: float, hold_s: float) -> int:
    """Connections per process: Little's law L = rate x hold time, plus 2 sqrt(L) (square-root staffing)."""
    load = rate_rps * hold_s
    return max(2, math.ceil(load + STAFFING_BETA * math.sqrt(load)))


def _pool(run: RunResults, profile: str, t: Target, pods: Figure, serving: int | None) -> list[Figure]:
    rule = "Little's law L = (target rate / serving pods) x W; pool = ceil(L + 2 sqrt(L)), at least 2"
    conn_rule = f"(pods + 1 surge pod) x pool + {CONNECTION_RESERVE} (backups, monitoring, admin, superuser)"
    if not serving or pods.value is None:
        why = "no pod count: " + (pods.uncertainty or "see pods")
        return [_missing("pool", "DB pool per process", "connections", rule, why),
                _missing("max_connections", "PostgreSQL max_connections", "connections", conn_rule, why)]  # fmt: skip
    rate = t.rps / serving
    found = _scenario(run, profile, "db_query")
    little = ((found.details.get("pool") or {}) if found else {}).get("db_seconds_per_request")
    mean = _metric(run, profile, "db_query.query_mean_ms")
    if little:
        hold, inputs = float(little), [f"db_query.details.pool.db_seconds_per_request = {_num(little * 1000)} ms"]
        ends, why = None, "n too small: one Little's-law estimate per run"
    elif mean is not None:
        hold, ends = mean.median / 1000.0, _ends(mean)
        inputs = [describe("db_query.query_mean_ms", mean) + " as W (one query per request assumed)"]
        why = f"n too small: db_query.query_mean_ms has no interval (n={mean.n})"
    else:
        why = "neither db_query.details.pool.db_seconds_per_request nor db_query.query_mean_ms measured"
        return [_missing("pool", "DB pool per process", "connections", rule, why),
                _missing("max_connections", "PostgreSQL max_connections", "connections", conn_rule, why)]  # fmt: skip
    inputs.insert(0, f"{_num(t.rps)} req/s over {serving} serving pods = {_num(rate)} req/s per pod")
    pool = Figure("pool", "DB pool per process", pool_size(rate, hold), "connections", rule, inputs)
    if ends:
        _span(pool, pool_size(rate, ends[0] / 1000.0), pool_size(rate, ends[1] / 1000.0), why)
    else:
        pool.uncertainty = why
    conns = Figure(
        "max_connections",
        "PostgreSQL max_connections",
        (pods.value + 1) * pool.value + CONNECTION_RESERVE,
        "connections",
        conn_rule,
        [f"pods = {_num(pods.value)}", f"pool = {_num(pool.value)}"],
    )
    if pods.high is not None and pool.high is not None and pods.low is not None and pool.low is not None:
        _span(
            conns, (pods.low + 1) * pool.low + CONNECTION_RESERVE, (pods.high + 1) * pool.high + CONNECTION_RESERVE, ""
        )
    else:
        conns.uncertainty = "inherits the pods' and the pool's: " + (pool.uncertainty or pods.uncertainty)
    return [pool, conns]


def pgtune(ram_bytes: float, cpus: int, max_connections: int) -> dict[str, float]:
    """pgtune's memory settings (web workload, Linux), in bytes."""
    shared = ram_bytes / 4
    per_gather = min(4, math.ceil(cpus / 2)) if cpus >= 4 else 1
    return {
        "shared_buffers": shared,
        "effective_cache_size": ram_bytes * 3 / 4,
        "maintenance_work_mem": min(ram_bytes / 16, 2 * 1024**3),
        "work_mem": max(64 * 1024, (ram_bytes - shared) / (3 * max_connections) / per_gather),
        "wal_buffers": min(shared * 0.03, 16 * 1024**2),
    }


def _postgres(run: RunResults, t: Target, conns: Figure) -> list[Figure]:
    env = run.environment
    ram_gb = t.postgres_memory_gb or float(env.get("memory_gb") or 0)
    cpus = int(t.postgres_cpus or env.get("cores") or 1)
    source = "plan target" if t.postgres_memory_gb else "the measured machine (environment.memory_gb)"
    rule = "pgtune, web workload (github.com/le0pard/pgtune)"
    if not ram_gb or conns.value is None:
        why = "no machine memory recorded" if not ram_gb else "no max_connections"
        return [_missing("pg_shared_buffers", "PostgreSQL memory settings", "MB", rule, why)]
    settings = pgtune(ram_gb * 1024**3, cpus, int(conns.value))
    rules = {
        "shared_buffers": "RAM / 4",
        "effective_cache_size": "3 RAM / 4",
        "maintenance_work_mem": "min(RAM / 16, 2 GB)",
        "work_mem": "(RAM - shared_buffers) / (3 max_connections) / parallel workers per gather",
        "wal_buffers": "min(3 % of shared_buffers, 16 MB)",
    }
    cached = settings["effective_cache_size"] / (t.data_tb * 1e12) if t.data_tb else None
    inputs = [f"RAM {ram_gb:g} GB and {cpus} CPUs from {source}", f"max_connections = {_num(conns.value)}"]
    out = []
    for name, value in settings.items():
        fig = Figure(f"pg_{name}", name, round(value / 1024**2, 1), "MB", f"{rule}: {rules[name]}", list(inputs))
        fig.uncertainty = "a rule of thumb, no measured spread"
        if name == "effective_cache_size" and cached is not None:
            fig.uncertainty += f"; caches {cached:.2%} of the {t.data_tb:g} TB target: the hot set must fit"
        out.append(fig)
    return out


# ---- Redis --------------------------------------------------------------------------------------------


def _entries_for(curve: list[list[float]], target: float) -> int | None:
    """Smallest size on a `[entries, ratio]` curve (geometric grid) reaching `target`, interpolated."""
    previous = (0.0, 0.0)
    for entries, ratio in curve:
        if ratio >= target:
            e0, r0 = previous
            share = 1.0 if ratio == r0 else (target - r0) / (ratio - r0)
            return max(1, math.ceil(e0 + share * (entries - e0)))
        previous = (entries, ratio)
    return None


def _redis(run: RunResults, profile: str, t: Target) -> Figure:
    rule = f"entries reaching hit ratio {t.hit_ratio:g} on the trace's LRU curve x bytes per key x {REDIS_MARGIN:g}"
    found = _scenario(run, profile, "cache_hit_ratio")
    reps = (found.details.get("repetitions") or []) if found else []
    curves = [r["lru_curve"] for r in reps if r.get("lru_curve")]
    if not curves:
        return _missing("redis_maxmemory", "Redis maxmemory", "MB", rule, "cache_hit_ratio recorded no lru_curve")
    entries = [_entries_for(c, t.hit_ratio) for c in curves]
    if None in entries:
        tops = ", ".join(f"{c[-1][1]:.3f}" for c in curves)
        return _missing(
            "redis_maxmemory", "Redis maxmemory", "MB", rule,
            f"hit ratio {t.hit_ratio:g} unreachable on this trace: the LRU curve tops at {tops} (compulsory misses)",
        )  # fmt: skip
    sizes = [(r.get("redis_bytes_per_key") or {}).get("bytes_per_key") for r in reps]
    per_key = [s for s in sizes if s]
    inputs = [
        f"cache_hit_ratio.details.repetitions[].lru_curve: {len(curves)} curve(s) over "
        f"{_num(curves[0][-1][0])} distinct keys; entries needed {', '.join(str(e) for e in entries)}"
    ]
    if not per_key:
        notes = {(r.get("redis_bytes_per_key") or {}).get("note") for r in reps} - {None}
        return _missing(
            "redis_maxmemory", "Redis maxmemory", "MB", rule,
            "no bytes per key measured in Redis" + (f" ({'; '.join(sorted(notes))})" if notes else ""),
        )  # fmt: skip
    n_entries = Metric.from_samples([float(e) for e in entries if e is not None], "entries")
    n_bytes = Metric.from_samples(per_key, "B")
    inputs.append(describe("cache_hit_ratio.details.redis_bytes_per_key", n_bytes))
    fig = Figure(
        "redis_maxmemory",
        "Redis maxmemory",
        round(n_entries.median * n_bytes.median * REDIS_MARGIN / MB, 2),
        "MB",
        rule + " (for this trace's key population)",
        inputs,
    )
    e_ends, b_ends = _ends(n_entries), _ends(n_bytes)
    if e_ends and b_ends:
        _span(fig, e_ends[0] * b_ends[0] * REDIS_MARGIN / MB, e_ends[1] * b_ends[1] * REDIS_MARGIN / MB, "")
    else:
        fig.uncertainty = f"n too small: {n_entries.n} curve(s), {n_bytes.n} Redis measurement(s)"
    return fig


# ---- backup -------------------------------------------------------------------------------------------


def _backup(run: RunResults, profile: str, t: Target) -> list[Figure]:
    volume_mb = t.data_tb * 1e12 / MB
    throughput = _metric(run, profile, "backup_time.backup_throughput_mb_s")
    ratio = _metric(run, profile, "backup_time.compression_ratio")
    duration = _metric(run, profile, "backup_time.backup_duration_s")
    restore = _metric(run, profile, "backup_time.restore_duration_s")
    note = "extrapolation: linear in size from the measured database"
    out: list[Figure] = []
    if ratio is None:
        why = "no compression_ratio"
        out.append(_missing("backup_size", "backup size at the target volume", "GB", "volume x compression", why))
    else:
        fig = Figure(
            "backup_size", "backup size at the target volume", round(volume_mb * ratio.median / 1000, 1), "GB",
            f"{t.data_tb:g} TB x compression_ratio", [describe("backup_time.compression_ratio", ratio)],
            extrapolated=True,
        )  # fmt: skip
        ends = _ends(ratio)
        _span(fig, *(volume_mb * e / 1000 for e in ends) if ends else (None, None), f"n too small (n={ratio.n})")
        fig.uncertainty = f"{note}; {fig.uncertainty}"
        out.append(fig)
    if throughput is None:
        out.append(_missing("backup_hours", "full backup time", "h", "volume / throughput", "no backup throughput"))
    else:
        hours = volume_mb / throughput.median / 3600
        verdict = "within" if hours <= t.rpo_h else "over"
        fig = Figure(
            "backup_hours", "full backup time", round(hours, 2), "h",
            f"{t.data_tb:g} TB / backup_throughput_mb_s; checked against the {t.rpo_h:g} h RPO",
            [describe("backup_time.backup_throughput_mb_s", throughput)], extrapolated=True,
        )  # fmt: skip
        ends = _ends(throughput)
        _span(fig, *(volume_mb / e / 3600 for e in ends) if ends else (None, None), f"n too small (n={throughput.n})")
        advice = "" if hours <= t.rpo_h else ": full backups alone cannot meet it, archive WAL (point-in-time recovery)"
        fig.uncertainty = f"{note}; {verdict} the {t.rpo_h:g} h RPO{advice}; {fig.uncertainty}"
        out.append(fig)
    rule = f"{t.data_tb:g} TB / (raw MB restored per second of the drill); checked against the {t.rto_h:g} h RTO"
    if throughput is None or duration is None or restore is None or not throughput.n == duration.n == restore.n:
        out.append(_missing("restore_hours", "restore time (RTO)", "h", rule, "restore drill not aligned with backups"))
        return out
    rates = [tp * d / r for tp, d, r in zip(throughput.samples, duration.samples, restore.samples, strict=True)]
    speed = Metric.from_samples(rates, "MB/s", "higher")
    hours = volume_mb / speed.median / 3600
    fig = Figure(
        "restore_hours", "restore time (RTO)", round(hours, 2), "h", rule,
        [describe("backup_time.restore_duration_s", restore), describe("restore MB/s per repetition", speed)],
        extrapolated=True,
    )  # fmt: skip
    ends = _ends(speed)
    _span(fig, *(volume_mb / e / 3600 for e in ends) if ends else (None, None), f"n too small (n={speed.n})")
    verdict = "within" if hours <= t.rto_h else "over"
    fig.uncertainty = f"{note}; {verdict} the {t.rto_h:g} h RTO; {fig.uncertainty}"
    out.append(fig)
    return out


# ---- monitoring -----------------------------------------------------------------------------------------


def _alerts(run: RunResults, profile: str, t: Target, memory_limit: Figure, backup: Figure | None) -> list[Alert]:
    budget = round(1.0 - t.availability, 12)
    p95 = _metric(run, profile, "api_latency.latency_p95_ms")
    errors = _metric(run, profile, "api_latency.server_error_rate")
    recovery = _metric(run, profile, "resilience_faults.recovery_time_s")
    alerts = [
        Alert(
            "HighP95Latency", "p95 latency over the SLO", t.p95_ms / 1000, "s", "5m", "warning",
            f"the target's p95 SLO, {_num(t.p95_ms)} ms",
            "" if p95 is None else f"measured at the nominal load: {describe('api_latency.latency_p95_ms', p95)}",
        ),
    ]  # fmt: skip
    burn_note = ""
    if errors is not None:
        burn_note = (
            f"measured {describe('api_latency.server_error_rate', errors)}: burn rate {errors.median / budget:.2g}"
        )
    for severity, long, short, burn in BURN_RATES:
        alerts.append(
            Alert(
                f"ErrorBudgetBurn{long}", f"5xx ratio over {long} and {short} above {burn:g} x the budget",
                burn * budget, "fraction", "2m" if severity == "page" else "15m", severity,
                f"SLO {t.availability:.3%} available: budget {budget:.3%} of requests per 30 days; "
                f"burn {burn:g}x (SRE workbook, multi-window multi-burn-rate)",
                burn_note,
            )
        )  # fmt: skip
    breaker_for = 60.0
    measured = ""
    if recovery is not None:
        breaker_for = max(60.0, 2 * recovery.median)
        measured = describe("resilience_faults.recovery_time_s", recovery)
    alerts.append(
        Alert(
            "CircuitBreakerOpen", "a breaker open", 1, "state", f"{math.ceil(breaker_for)}s", "critical",
            "open longer than twice the measured recovery time, at least 1 min", measured,
        )
    )  # fmt: skip
    alerts.append(
        Alert(
            "BackupTooOld", "newest verified backup older than the RPO", t.rpo_h * 3600, "s", "5m", "critical",
            f"the {t.rpo_h:g} h RPO", "" if backup is None or backup.value is None
            else f"a full backup at {t.data_tb:g} TB takes {_num(backup.value)} h (extrapolated)",
        )
    )  # fmt: skip
    limit = memory_limit.value
    alerts.append(
        Alert(
            "HighMemory", "RSS over 90 % of the memory limit",
            (0.9 * limit if limit else 256) * 1024**2, "bytes", "10m", "warning",
            "90 % of the planned memory limit" if limit else "no memory limit planned: 256 MiB (original)",
            f"limit {_num(limit)} Mi" if limit else "",
        )
    )  # fmt: skip
    return alerts


# ---- the plan -------------------------------------------------------------------------------------------


def target_of(run: RunResults) -> Target:
    """The run's plan target (`environment.plan_target`, the pack's `[plan]`), defaults for the rest."""
    return Target.from_dict(run.environment.get("plan_target"), "environment.plan_target")


def plan(run: RunResults, profile: str, target: Target | None = None) -> Plan:
    """The capacity plan of `profile` in `run`."""
    t = target or target_of(run)
    pods, usl = _pods(run, profile, t)
    resources = _resources(run, profile)
    pool, conns = _pool(run, profile, t, pods, usl.get("serving"))
    backup = _backup(run, profile, t)
    figures = [pods, *resources, pool, conns, *_postgres(run, t, conns), _redis(run, profile, t), *backup]
    by_key = {f.key: f for f in figures}
    return Plan(profile, t, figures, _alerts(run, profile, t, by_key["memory_limit"], by_key.get("backup_hours")))


def plans(run: RunResults) -> dict[str, Plan]:
    """A plan per profile that measured capacity."""
    return {p: plan(run, p) for p in run.profiles if _scenario(run, p, "capacity") is not None}
