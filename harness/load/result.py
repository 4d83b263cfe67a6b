"""`LoadResult`: what a load phase measured, and whether the measurement can be trusted.

Built in the harness process from the load process' raw output (a merged `Recorder` plus each
generator process' CPU series). Latency figures are in milliseconds; histograms are kept encoded.
For the closed model there is no schedule, so ``corrected`` is None and `EndpointResult.latency_ms`
falls back to the uncorrected figures.

Every request counts (open model): ``corrected`` includes the requests that timed out, were never sent
or were still in flight at the drain's end, each at its lower bound (see `harness.load.recorder`);
``uncorrected`` is the record of the answered requests only. Percentiles that such a lower bound can
have pulled down are marked: `EndpointResult.lower_bound`, and `LoadResult.lower_bound` for the phase,
which is also set when the phase was backlogged (the rule is in `_validity`).

Which path was measured: when responses carry ``X-Cache: HIT``/``MISS``/``STALE``, each `EndpointResult`
(and ``overall``) has ``by_cache`` (an `EndpointResult` per value: counts and percentiles of hits and
misses apart) and ``cache_hit_ratio`` (the share of HIT among them over the measured window; a STALE
answer, served expired after the live load failed, is not a hit). ``templates`` records,
per request template (by endpoint name), its sources and what the measured window sent: requests,
distinct values and the share that went to the hottest 1 % of values (per source), merged exactly over
the load processes; ``seed`` is the seed of the template streams. `LoadResult.traffic` gathers them for a
scenario's ``details``.

``window_epoch`` is the measured window in wall-clock seconds (``time.time()``), to line it up with
other clocks (e.g. `harness.sampler.Sampler.started_epoch`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.load.recorder import PERCENTILES, EndpointRecorder, Recorder, encode, summarize
from harness.load.spec import LoadSpec
from harness.load.templates import merge_summaries

Series = dict[str, Any]  # {"unit": ..., "t": [...], "v": [...]}


@dataclass
class EndpointResult:
    """Counts, throughput and latency percentiles of one endpoint (or ``overall``).

    ``count`` is finished requests (answered or failed). ``unsent``, ``incomplete`` and ``timed_out``
    (open model) are in ``corrected`` at their lower bound; the first two are not in ``count``.
    ``lower_bound``: the reported percentiles (`latency_ms`) may be below the true ones: the phase was
    backlogged, or a request whose latency is known only from below lies at or under one of them
    (closed model: any timed-out or incomplete request, since ``uncorrected`` leaves them out).
    """

    count: int
    errors: dict[str, int]
    error_count: int
    error_rate: float
    throughput_rps: float
    corrected: dict[str, float] | None
    uncorrected: dict[str, float] | None
    histograms: dict[str, str]
    unsent: int = 0
    incomplete: int = 0
    timed_out: int = 0
    lower_bound: bool = False
    by_cache: dict[str, EndpointResult] = field(default_factory=dict)  # per X-Cache value (HIT, MISS)
    cache_hit_ratio: float | None = None  # HIT / (HIT + MISS + STALE), None when no response said

    @classmethod
    def build(
        cls, recorder: EndpointRecorder, duration_s: float, corrected: bool, backlogged: bool = False
    ) -> EndpointResult:
        error_count = sum(recorder.errors.values())
        primary = recorder.corrected if corrected else recorder.uncorrected
        exact = all(recorder.exact_at(primary, p) for p in PERCENTILES)
        by_cache = {
            s: cls.build(sub, duration_s, corrected, backlogged) for s, sub in sorted(recorder.by_cache.items())
        }
        marked = sum(sub.count for sub in by_cache.values())
        hits = by_cache["HIT"].count if "HIT" in by_cache else 0
        return cls(
            count=recorder.count,
            errors=dict(sorted(recorder.errors.items())),
            error_count=error_count,
            error_rate=error_count / recorder.count if recorder.count else 0.0,
            throughput_rps=recorder.count / duration_s,
            corrected=summarize(recorder.corrected) if corrected else None,
            uncorrected=summarize(recorder.uncorrected),
            histograms={"corrected": encode(recorder.corrected), "uncorrected": encode(recorder.uncorrected)},
            unsent=recorder.unsent,
            incomplete=recorder.incomplete,
            timed_out=recorder.timed_out,
            lower_bound=backlogged or not exact,
            by_cache=by_cache,
            cache_hit_ratio=hits / marked if marked else None,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointResult:
        fields = dict(data)
        fields["by_cache"] = {s: cls.from_dict(d) for s, d in (data.get("by_cache") or {}).items()}
        return cls(**fields)

    def latency_ms(self, key: str = "p95") -> float | None:
        """The honest figure: corrected when there was a schedule, else uncorrected (e.g. ``p99``)."""
        summary = self.corrected if self.corrected is not None else self.uncorrected
        return None if summary is None else summary[f"{key}_ms"]


@dataclass
class LoadResult:
    """A load phase's result; ``valid`` is False (with ``invalid_reason``) when it must not be graded.

    ``lower_bound``: the phase's percentiles are lower bounds ("at least"): it was backlogged
    (``validity["limited_by"] == "backlog"`` or a backlog reason beside a generator one), or the overall
    figures are (`EndpointResult.lower_bound`). Scenarios mark such metrics ``bound="at_least"``.

    ``timeseries``: ``throughput_rps``, ``errors_per_s`` and ``latency_p95_ms`` per second of the window
    (by completion time; corrected latency under the open model) and each generator process' CPU.
    ``validity``: ``limited_by`` (None, ``generator`` or ``backlog``), ``generator_cpu_percent_mean``,
    ``generator_loop_lag_ms``, ``cpu_warning``, ``incomplete``, ``timed_out``, ``backlogged``, and for the
    open model ``scheduled``, ``unsent``, ``unsent_fraction``, ``unfinished_fraction`` ((unsent +
    incomplete) / scheduled), ``schedule_lag_ms`` and ``dispatch_lag_ms`` (percentile summaries), and
    ``lost_workers`` (distributed: workers lost mid-phase, each with index, host and why; the phase is then
    invalid). ``processes``: per generator process its role, index, host (workers), recorded count, CPU
    affinity and its own ``validity`` (CPU mean, loop-lag p99, dispatch-lag p99, schedule-lag p50,
    ``saturated`` and its ``reasons``): the phase is invalid when any worker saturated, naming it.
    """

    model: str
    target_url: str
    plan: dict[str, Any]
    workers: int
    warmup_s: float
    duration_s: float
    overall: EndpointResult
    endpoints: dict[str, EndpointResult]
    timeseries: dict[str, Series]
    validity: dict[str, Any]
    valid: bool
    invalid_reason: str | None
    window_epoch: list[float]
    processes: list[dict[str, Any]] = field(default_factory=list)
    lower_bound: bool = False
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadResult:
        fields = dict(data)
        fields["overall"] = EndpointResult.from_dict(data["overall"])
        fields["endpoints"] = {n: EndpointResult.from_dict(e) for n, e in data["endpoints"].items()}
        return cls(**fields)

    def traffic(self) -> dict[str, Any]:
        """What was sent and which path answered, for a scenario's ``details``: the template streams' seed
        and summaries, and the measured window's X-Cache hit ratio overall and per endpoint (with the
        p95 of hits and misses apart)."""
        cache: dict[str, Any] = {"hit_ratio": self.overall.cache_hit_ratio, "endpoints": {}}
        for name, endpoint in self.endpoints.items():
            if endpoint.by_cache:
                cache["endpoints"][name] = {
                    "hit_ratio": endpoint.cache_hit_ratio,
                    **{
                        status.lower(): {"count": sub.count, "p95_ms": sub.latency_ms("p95")}
                        for status, sub in endpoint.by_cache.items()
                    },
                }
        return {"seed": self.seed, "templates": self.templates, "cache": cache}


def build_result(raw: dict[str, Any], spec: LoadSpec) -> LoadResult:
    """Turn the load process' raw output into a `LoadResult`."""
    recorder = Recorder.from_dict(raw["recorder"])
    duration = spec.plan.duration_s
    open_model = spec.plan.model == "open"
    validity = _validity(recorder, raw["processes"], spec, raw.get("lost", []))
    reasons = validity.pop("reasons")
    per_process = validity.pop("processes")
    backlogged = validity["backlogged"]
    overall = EndpointResult.build(recorder.overall(), duration, open_model, backlogged)
    return LoadResult(
        model=spec.plan.model,
        target_url=spec.target_url,
        plan=spec.plan.to_dict(),
        workers=spec.workers,
        warmup_s=spec.warmup_s,
        duration_s=duration,
        overall=overall,
        endpoints={
            n: EndpointResult.build(r, duration, open_model, backlogged) for n, r in sorted(recorder.endpoints.items())
        },
        timeseries=_timeseries(recorder, raw["processes"]),
        validity=validity,
        valid=not reasons,
        invalid_reason="; ".join(reasons) if reasons else None,
        window_epoch=[
            min((p["window_epoch"][0] for p in raw["processes"]), default=0.0),
            max((p["window_epoch"][1] for p in raw["processes"]), default=0.0),
        ],
        processes=[
            {**{k: v for k, v in p.items() if k != "cpu_percent"}, "validity": v}
            for p, v in zip(raw["processes"], per_process, strict=True)
        ],
        lower_bound=backlogged or overall.lower_bound,
        templates=_templates(raw.get("templates", []), spec),
        seed=spec.seed,
    )


def _templates(per_process: list[dict[str, Any]], spec: LoadSpec) -> dict[str, dict[str, Any]]:
    """Each template's summaries from every load process merged exactly (raw counts dropped)."""
    sizes = {
        e.name: {key: source.size for key, source in e.template.sources.items()}
        for e in spec.endpoints
        if e.template is not None
    }
    summaries: dict[str, list[dict[str, Any]]] = {}
    for streams in per_process:
        for name, summary in streams.items():
            summaries.setdefault(name, []).append(summary)
    merged = {name: merge_summaries(found, sizes[name]) for name, found in sorted(summaries.items())}
    for summary in merged.values():
        summary["scope"] = "measured window"
    return merged


def _timeseries(recorder: Recorder, processes: list[dict[str, Any]]) -> dict[str, Series]:
    seconds = sorted(s for s in recorder.seconds if s >= 0)
    buckets = [recorder.seconds[s] for s in seconds]
    series: dict[str, Series] = {
        "throughput_rps": {"unit": "req/s", "t": seconds, "v": [b.count for b in buckets]},
        "errors_per_s": {"unit": "req/s", "t": seconds, "v": [b.errors for b in buckets]},
        "latency_p95_ms": {
            "unit": "ms",
            "t": seconds,
            "v": [
                b.latency.get_value_at_percentile(95.0) / 1000.0 if b.latency.get_total_count() else None
                for b in buckets
            ],
        },
    }
    for process in processes:
        series[f"generator_cpu_percent_{process['role']}{process['index']}"] = process["cpu_percent"]
    return series


def _window_cpu(cpu: Series, duration_s: float) -> list[float]:
    inside = [v for t, v in zip(cpu["t"], cpu["v"], strict=True) if 1.0 <= t <= duration_s + 0.5]
    return inside or list(cpu["v"])


def _process_label(process: dict[str, Any]) -> str:
    host = process.get("host")
    return f"{process['role']} {process['index']}" + (f" on {host}" if host else "")


def _process_reasons(process: dict[str, Any], cpu_mean: float, spec: LoadSpec) -> list[str]:
    """Why this generator process saturated: its CPU, Locust's CPU warning, and (workers, which report
    their own) its event-loop and dispatch lag."""
    label, tolerance, reasons = _process_label(process), spec.lag_tolerance_ms, []
    if cpu_mean >= spec.cpu_limit_percent:
        reasons.append(
            f"load generator saturated: {label} used {cpu_mean:.0f} % of a core (limit {spec.cpu_limit_percent:.0f} %)"
        )
    elif process["cpu_warning"]:
        reasons.append(f"load generator saturated: Locust's CPU warning fired on {label}")
    loop_lag, dispatch_lag = process.get("loop_lag_ms"), process.get("dispatch_lag_ms")
    if loop_lag and loop_lag["p99_ms"] > tolerance:
        reasons.append(
            f"load generator short of CPU: {label}'s event loop woke {loop_lag['p99_ms']:.1f} ms late at p99 "
            f"(tolerance {tolerance:g} ms)"
        )
    if dispatch_lag and dispatch_lag["p99_ms"] > tolerance:
        reasons.append(
            f"load generator fell behind its schedule: idle users of {label} sent {dispatch_lag['p99_ms']:.1f} ms "
            f"late at p99 (tolerance {tolerance:g} ms)"
        )
    return reasons


def _validity(
    recorder: Recorder, processes: list[dict[str, Any]], spec: LoadSpec, lost_workers: list[dict[str, Any]]
) -> dict[str, Any]:
    """Validity checks. ``limited_by`` says which kind failed: ``generator`` (its CPU, its event-loop
    lag or its own lateness: the figures describe the generator, not the target) or ``backlog``.

    Backlogged (``backlogged``, open model): the target did not keep up with the offered rate (or the
    user pool is too small): the median send was later than ``lag_tolerance_ms`` after its due time (a
    queue builds up, so a longer phase would show higher latencies), or more than ``max_unsent_fraction``
    (default 1 %) of the schedule was unsent or incomplete at the drain's end. Those requests are in the
    corrected histogram at their lower bound (at least the drain time), so beyond 1 % they reach the p99
    itself: the tolerance decides only whether the phase is backlogged, never whether they count.
    A backlogged phase's percentiles are lower bounds."""
    generator: list[str] = []
    backlog: list[str] = []
    tolerance = spec.lag_tolerance_ms
    cpu_means = []
    per_process = []
    for process in processes:
        values = _window_cpu(process["cpu_percent"], spec.plan.duration_s)
        mean = statistics.fmean(values) if values else math.nan
        cpu_means.append(mean)
        own = _process_reasons(process, mean, spec)
        per_process.append(
            {
                "cpu_percent_mean": mean,
                "loop_lag_p99_ms": (process.get("loop_lag_ms") or {}).get("p99_ms"),
                "dispatch_lag_p99_ms": (process.get("dispatch_lag_ms") or {}).get("p99_ms"),
                "schedule_lag_p50_ms": (process.get("schedule_lag_ms") or {}).get("p50_ms"),
                "saturated": bool(own),
                "reasons": own,
            }
        )
        generator.extend(own)
    own_lags = any("loop_lag_ms" in p for p in processes)  # workers judge their own lags; one process: merged
    for lost in lost_workers:
        generator.append(
            f"load worker {lost['index']} on {lost['host']} was lost mid-phase ({lost['reason']}): "
            "its share of the schedule is missing from the figures"
        )
    loop_lag = summarize(recorder.loop_lag)
    if loop_lag and loop_lag["p99_ms"] > tolerance and not own_lags:
        generator.append(
            f"load generator short of CPU: its event loop woke {loop_lag['p99_ms']:.1f} ms late at p99 "
            f"(tolerance {tolerance:g} ms)"
        )
    validity: dict[str, Any] = {
        "generator_loop_lag_ms": loop_lag,
        "generator_cpu_percent_mean": max(cpu_means) if cpu_means else None,
        "cpu_limit_percent": spec.cpu_limit_percent,
        "cpu_warning": any(p["cpu_warning"] for p in processes),
        "incomplete": recorder.incomplete,
        "timed_out": recorder.overall().timed_out,
        "lag_tolerance_ms": tolerance,
        "processes": per_process,
        "lost_workers": lost_workers,
    }
    if spec.plan.model == "open":
        schedule_lag = summarize(recorder.schedule_lag)
        dispatch_lag = summarize(recorder.dispatch_lag)
        unsent_fraction = recorder.unsent / recorder.scheduled if recorder.scheduled else 0.0
        unfinished = recorder.unsent + recorder.incomplete
        unfinished_fraction = unfinished / recorder.scheduled if recorder.scheduled else 0.0
        validity.update(
            scheduled=recorder.scheduled,
            unsent=recorder.unsent,
            unsent_fraction=unsent_fraction,
            unfinished_fraction=unfinished_fraction,
            schedule_lag_ms=schedule_lag,
            dispatch_lag_ms=dispatch_lag,
        )
        if dispatch_lag and dispatch_lag["p99_ms"] > tolerance and not own_lags:
            generator.append(
                f"load generator fell behind its schedule: idle users sent {dispatch_lag['p99_ms']:.1f} ms "
                f"late at p99 (tolerance {tolerance:g} ms)"
            )
        if schedule_lag and schedule_lag["p50_ms"] > tolerance:
            backlog.append(
                f"sends fell behind schedule: median lag {schedule_lag['p50_ms']:.1f} ms (tolerance {tolerance:g} ms) "
                f"with all {spec.plan.users} users busy: the target did not keep up with "
                f"{spec.plan.peak_rps:g} req/s, or the user pool is too small"
            )
        if unfinished_fraction > spec.max_unsent_fraction:
            backlog.append(
                f"{recorder.unsent} of {recorder.scheduled} scheduled requests were never sent and "
                f"{recorder.incomplete} unanswered at the drain's end ({unfinished_fraction:.1%}, tolerance "
                f"{spec.max_unsent_fraction:.1%}); they count at their lower bound"
            )
    reasons = generator + backlog
    if recorder.overall().count == 0:
        reasons.append("no request completed in the measured window")
    validity["limited_by"] = "generator" if generator else "backlog" if backlog else None
    validity["backlogged"] = bool(backlog)
    validity["reasons"] = reasons
    return validity
