"""Bottleneck findings derived from a run's metrics and the hot frames its profiles recorded.

Every rule reads only data: metric medians (a finding's ``evidence`` names the metrics, and the report
prints each with its n and interval) and ``details["hot_frames"]`` (written by
`harness.profiling.hot_frames`), never the profile's name. The blocking-call rule needs both signals:
event-loop lag measured by a probe, and a frame that held the loop in the profile for a comparable time
(the code location). Severity follows the score of the worst metric involved. Memory findings name the
allocation sites `memory_footprint` recorded (``details["allocation_sites"]``, tracemalloc): the fastest
growing one, or the largest, by file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.results import RunResults
from reports.grading import USABLE_STATUSES, Assessment, find_scenario, lookup_metric

LAG_THRESHOLD_MS = 100.0  # event-loop lag worth a finding
MIN_HOLD_MS = 50.0  # a frame must hold the loop at least this long ...
HOLD_SHARE_OF_LAG = 0.5  # ... and at least this share of the measured lag to explain it
BACKUP_STARVATION_RATIO = 1.5  # live p95 during a backup / without
CPU_HOTSPOT_SHARE = 0.10  # a project frame's share of busy samples worth naming
OPTIMUM_MARGIN = 0.02  # hit ratios this close to the LRU / Belady figure count as equal
PROJECT_PREFIXES = ("system_under_test/",)
HOTSPOT_GROWTH_KB_PER_MIN = 256.0  # an allocation site growing this fast under steady load is named ...
HOTSPOT_SIZE_KB = 1024.0  # ... and so is one holding this much (the original named a ~3 MB deque)
SEQ_SCANS_PER_S = 0.5  # sequential scans of a big table this often under load come from the request path


@dataclass
class Location:
    function: str
    file: str
    line: int
    role: str  # "blocking call", "called from", "hot frame", "allocating line", "reached from"

    def __str__(self) -> str:
        return f"{self.function} ({self.file}:{self.line})"


@dataclass
class Finding:
    key: str
    profile: str
    area: str
    title: str
    severity: str  # critical / high / medium / low
    impact: str  # the measured impact, in words and numbers
    fix: str
    locations: list[Location] = field(default_factory=list)
    evidence: dict[str, float] = field(default_factory=dict)  # metric key -> median


def severity(score: float | None) -> str:
    if score is None:
        return "medium"
    if score < 35:
        return "critical"
    if score < 50:
        return "high"
    if score < 72:
        return "medium"
    return "low"


def _value(run: RunResults, key: str, profile: str) -> float | None:
    metric, _ = lookup_metric(run, key, profile)
    return metric.median if metric is not None else None


def _score(assessment: Assessment, *keys: str) -> float | None:
    scores = [g.score for k in keys if (g := assessment.metric(k)) is not None]
    return min(scores) if scores else None


def _hot_frames(run: RunResults, profile: str, scenario: str | None = None) -> list[dict[str, Any]]:
    frames = []
    for result in run.scenarios:
        if result.profile == profile and (scenario is None or result.name == scenario):
            frames.extend(f for f in result.details.get("hot_frames") or [] if isinstance(f, dict))
    return frames


def _loc(frame: dict[str, Any], role: str) -> Location:
    return Location(str(frame.get("function", "?")), str(frame.get("file", "?")), int(frame.get("line") or 0), role)


def _is_project(frame: dict[str, Any]) -> bool:
    return str(frame.get("file", "")).startswith(PROJECT_PREFIXES)


def _blocking_call(run: RunResults, profile: str, assessment: Assessment) -> list[Finding]:
    lag = _value(run, "health_overhead.event_loop_lag_max_ms", profile)
    frames = _hot_frames(run, profile)
    floor = max(MIN_HOLD_MS, HOLD_SHARE_OF_LAG * (lag or 0.0))
    holders = sorted(
        (f for f in frames if float(f.get("longest_hold_ms") or 0.0) >= floor),
        key=lambda f: -float(f["longest_hold_ms"]),
    )
    if (lag is None or lag < LAG_THRESHOLD_MS) and not holders:
        return []
    p99 = _value(run, "health_overhead.event_loop_lag_p99_ms", profile)
    evidence = {"health_overhead.event_loop_lag_max_ms": lag} if lag is not None else {}
    if p99 is not None:
        evidence["health_overhead.event_loop_lag_p99_ms"] = p99
    lag_text = f"event-loop lag up to {lag:.0f} ms (p99 {p99:.0f} ms)" if lag is not None and p99 is not None else ""
    if not holders:
        return [
            Finding(
                "event-loop-stall",
                profile,
                "cpu",
                "Event loop stalls, not located",
                severity(_score(assessment, "health_overhead.event_loop_lag_max_ms")),
                f"Measured {lag_text}; no profile frame held the loop that long.",
                "Profile the scenario (`athbench profile --scenario health_overhead`) to locate the call.",
                evidence=evidence,
            )
        ]
    top = holders[0]
    locations = [_loc(top, "blocking call")]
    if isinstance(top.get("caller"), dict):
        locations.append(_loc(top["caller"], "called from"))
    hold = float(top["longest_hold_ms"])
    impact = f"{top.get('function')} held the event loop for about {hold:.0f} ms at a time (sampled profile)"
    impact += f"; {lag_text}." if lag_text else "."
    round_ms = _value(run, "health_overhead.health_round_ms", profile)
    if round_ms is not None:
        impact += f" A health-check round takes {round_ms:.0f} ms."
        evidence["health_overhead.health_round_ms"] = round_ms
    return [
        Finding(
            "blocking-call",
            profile,
            "cpu",
            f"Blocking call on the event loop: {top.get('function')}",
            severity(_score(assessment, "health_overhead.event_loop_lag_max_ms")) if lag is not None else "high",
            impact,
            "Move the call off the loop (run_in_executor) or make it non-blocking "
            "(e.g. psutil.cpu_percent(interval=None) sampled from a background task).",
            locations,
            evidence,
        )
    ]


def _threshold_rule(
    run: RunResults,
    profile: str,
    assessment: Assessment,
    *,
    key: str,
    area: str,
    title: str,
    fix: str,
    scenario: str,
    impact: str,
    extra: tuple[str, ...] = (),
) -> list[Finding]:
    """A finding when ``key`` misses its target (scores below 90), located by the scenario's hot frames."""
    grade = assessment.metric(key)
    if grade is None or grade.meets_target:
        return []
    values = {key: grade.value}
    for other in extra:
        value = _value(run, other, profile)
        if value is not None:
            values[other] = value
    project = [
        f
        for f in _hot_frames(run, profile, scenario)
        if _is_project(f) and float(f.get("self_fraction") or 0.0) >= CPU_HOTSPOT_SHARE
    ]
    project.sort(key=lambda f: -float(f.get("self_fraction") or 0.0))
    locations = [_loc(project[0], "hot frame")] if project else []
    text = impact.format(
        value=grade.value, target=grade.target, unit=grade.unit, **{k.split(".")[1]: v for k, v in values.items()}
    )
    if grade.bound != "exact":
        text += f" ({key.split('.')[1]} is {'at least' if grade.bound == 'at_least' else 'at most'} this figure.)"
    return [Finding(key.split(".")[1], profile, area, title, severity(grade.score), text, fix, locations, values)]


def _cache(run: RunResults, profile: str, assessment: Assessment) -> list[Finding]:
    found = _threshold_rule(
        run,
        profile,
        assessment,
        key="cache_hit_ratio.hit_ratio_overall",
        area="caching",
        title="Low cache hit ratio",
        fix="Multi-level cache (L1 in-process LRU with a memory limit, L2 Redis) and cache warming.",
        scenario="cache_hit_ratio",
        impact="Hit ratio {value:.0%} against a target of {target:.0%}.",
        extra=("cache_hit_ratio.hit_ratio_lru_sim", "cache_hit_ratio.hit_ratio_belady"),
    )
    for finding in found:
        lru = finding.evidence.get("cache_hit_ratio.hit_ratio_lru_sim")
        optimum = finding.evidence.get("cache_hit_ratio.hit_ratio_belady")
        if lru is not None:
            finding.impact += f" An LRU of the same size would reach {lru:.0%} on the same trace"
            finding.impact += f" (Belady optimum {optimum:.0%})." if optimum is not None else "."
            overall = finding.evidence["cache_hit_ratio.hit_ratio_overall"]
            if lru - overall > OPTIMUM_MARGIN:
                finding.impact += " The eviction policy, not the cache size, loses the hits."
            if optimum is not None and overall - optimum > OPTIMUM_MARGIN:
                finding.impact += (
                    " The service beats what an in-process cache of this size starting empty could reach: its"
                    " shared tiers (Redis, warming) carry the difference, and the remaining misses are first reads."
                )
                finding.severity = "low"
            elif optimum is not None and optimum - overall <= OPTIMUM_MARGIN:
                finding.impact += (
                    " The cache is at the offline optimum for this trace: the remaining misses are compulsory"
                    " (first reads), so the target is out of reach of any cache on this workload."
                )
                finding.severity = "low"
    return found


def allocation_sites(run: RunResults, profile: str) -> dict[str, Any] | None:
    """The allocation sites memory_footprint recorded under ``profile`` (``details["allocation_sites"]``,
    docs/results-schema.md) with every field present (files written before growth was split out hold
    ``size_diff_kb``, growth over the whole interval), or None."""
    scenario = find_scenario(run, "memory_footprint", profile)
    sites = scenario.details.get("allocation_sites") if scenario is not None else None
    if not isinstance(sites, dict) or not sites.get("top"):
        return None
    interval = float(sites.get("interval_s") or 0.0)
    window = float(sites.get("growth_window_s") or interval)
    top = []
    for site in sites["top"]:
        growth = site.get("growth_kb", site.get("size_diff_kb"))
        rate = site.get("growth_kb_per_min")
        if rate is None and growth is not None and window > 0:
            rate = 60.0 * float(growth) / window
        top.append(
            {
                "file": str(site.get("file", "?")),
                "line": int(site.get("line") or 0),
                "code": site.get("code"),
                "project_frame": site.get("project_frame"),
                "size_kb": site.get("size_kb"),
                "growth_kb": growth,
                "growth_kb_per_min": rate,
                "count": site.get("count"),
            }
        )
    return {
        "method": str(sites.get("method", "tracemalloc")),
        "interval_s": interval,
        "growth_window_s": window,
        "load_errors": list(sites.get("load_errors") or []),
        "top": top,
    }


def _site_locations(site: dict[str, Any]) -> list[Location]:
    locations = [Location(str(site["code"] or "allocation"), site["file"], site["line"], "allocating line")]
    frame = str(site.get("project_frame") or "")
    file, _, line = frame.rpartition(":")
    if file and line.isdigit() and (file, int(line)) != (site["file"], site["line"]):
        locations.append(Location("service frame", file, int(line), "reached from"))
    return locations


def _memory(run: RunResults, profile: str, assessment: Assessment) -> list[Finding]:
    """RSS growth above target, and the allocation site that grows fastest (or holds most) by file and line."""
    found = _threshold_rule(
        run,
        profile,
        assessment,
        key="memory_footprint.rss_growth_mb_per_min",
        area="memory",
        title="Memory grows under steady load",
        fix="Bound every history buffer and cache (maxlen / LRU with a size limit).",
        scenario="memory_footprint",
        impact="RSS grows {value:.2f} MB/min at steady load (target {target:.2f} MB/min).",
    )
    sites = allocation_sites(run, profile)
    if sites is None:
        return found
    growing = max(sites["top"], key=lambda s: float(s["growth_kb_per_min"] or 0.0))
    largest = max(sites["top"], key=lambda s: float(s["size_kb"] or 0.0))
    if float(growing["growth_kb_per_min"] or 0.0) >= HOTSPOT_GROWTH_KB_PER_MIN:
        site, severity_ = growing, "medium"
    elif float(largest["size_kb"] or 0.0) >= HOTSPOT_SIZE_KB:
        site, severity_ = largest, "low"
    else:
        return found
    text = (
        f"{site['file']}:{site['line']} holds {float(site['size_kb'] or 0.0):,.0f} KB allocated during "
        f"{sites['interval_s']:g} s of tracemalloc under load and grew {float(site['growth_kb'] or 0.0):,.0f} KB "
        f"in its last {sites['growth_window_s']:g} s ({float(site['growth_kb_per_min'] or 0.0):,.0f} KB/min)."
    )
    if found:
        found[0].locations = _site_locations(site)
        found[0].impact += " Fastest-growing allocation site: " + text
        return found
    return [
        Finding(
            "memory-hotspot",
            profile,
            "memory",
            f"Memory hotspot at {site['file']}:{site['line']}",
            severity_,
            text,
            "Bound what this line keeps (deque(maxlen=...), an LRU with a size limit) or release it when done.",
            _site_locations(site),
        )
    ]


def _seq_scans(run: RunResults, profile: str) -> list[Finding]:
    """A big table scanned sequentially, over and over, while db_query's load ran (``details["seq_scans"]``):
    a query on the request path lacks an index (a periodic job, such as a view refresh, scans far less often)."""
    scenario = find_scenario(run, "db_query", profile)
    if scenario is None or scenario.status not in USABLE_STATUSES:
        return []
    window_s = float(scenario.params.get("duration_s") or 0.0)
    found = []
    for scan in scenario.details.get("seq_scans") or []:
        count = int(scan.get("seq_scans") or 0)
        if window_s <= 0 or count / window_s < SEQ_SCANS_PER_S:
            continue
        rows_read = int(scan.get("rows_read") or 0)
        found.append(
            Finding(
                "seq-scan",
                profile,
                "database",
                f"Sequential scans of {scan.get('table')}",
                "high" if rows_read / window_s >= 100_000 else "medium",
                f"{scan.get('table')} ({int(scan.get('rows') or 0):,} rows) was scanned whole {count} times in "
                f"{window_s:g} s of load ({rows_read / window_s:,.0f} rows read per second).",
                f"Index the column the scanning query filters {scan.get('table')} on (EXPLAIN the queries on it).",
            )
        )
    return found


def _cpu_hotspots(run: RunResults, profile: str) -> list[Finding]:
    frames = [f for f in _hot_frames(run, profile, "api_latency") if _is_project(f)]
    hot = [f for f in frames if float(f.get("self_fraction") or 0.0) >= CPU_HOTSPOT_SHARE]
    return [
        Finding(
            "cpu-hotspot",
            profile,
            "cpu",
            f"CPU hot spot: {f.get('function')}",
            "medium",
            f"{float(f['self_fraction']):.0%} of busy samples under the api_latency load are spent in this frame.",
            "Cache or precompute the result, or move the work off the request path.",
            [_loc(f, "hot frame")],
        )
        for f in hot
    ]


def find(run: RunResults, assessment: Assessment) -> list[Finding]:
    """Bottlenecks of one profile, most severe first (invalid or failed scenarios give none: no figures)."""
    profile = assessment.profile
    found = _blocking_call(run, profile, assessment)
    found += _threshold_rule(
        run,
        profile,
        assessment,
        key="health_overhead.health_round_ms",
        area="monitoring",
        title="Slow health-check round",
        fix="Run the checks concurrently (asyncio.gather) with a timeout each; cache the CPU sample.",
        scenario="health_overhead",
        impact="One round of health checks takes {value:.0f} ms (target {target:.0f} ms).",
    )
    found += _threshold_rule(
        run,
        profile,
        assessment,
        key="db_query.dashboard_query_p95_ms",
        area="database",
        title="Slow dashboard queries",
        fix="Run the independent dashboard queries concurrently and cache the aggregate; check the plans.",
        scenario="db_query",
        impact="Dashboard p95 {value:.0f} ms (target {target:.0f} ms); mean query {query_mean_ms:.1f} ms.",
        extra=("db_query.query_mean_ms",),
    )
    found += _cache(run, profile, assessment)
    found += _threshold_rule(
        run,
        profile,
        assessment,
        key="backup_time.live_p95_backup_ratio",
        area="io",
        title="Backup starves live traffic",
        fix="Throttle the backup stream (bounded chunks, yield between them) and compress off the event loop.",
        scenario="backup_time",
        impact="Live p95 latency is {value:.2f}x its normal value while a backup runs (target {target:.2f}x).",
    )
    found += _seq_scans(run, profile)
    found += _memory(run, profile, assessment)
    found += _cpu_hotspots(run, profile)
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    return sorted(found, key=lambda f: order[f.severity])
