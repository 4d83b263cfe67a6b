"""`LoadResult`: what a load phase measured, and whether the measurement can be trusted.

Built in the harness process from the load process' raw output (a merged `Recorder` plus each
generator process' CPU series). Latency figures are in milliseconds; histograms are kept encoded.
For the closed model there is no schedule, so ``corrected`` is None and `EndpointResult.latency_ms`
falls back to the uncorrected figures. ``window_epoch`` is the measured window in wall-clock seconds
(``time.time()``), to line it up with other clocks (e.g. `harness.sampler.Sampler.started_epoch`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.load.recorder import EndpointRecorder, Recorder, encode, summarize
from harness.load.spec import LoadSpec

Series = dict[str, Any]  # {"unit": ..., "t": [...], "v": [...]}


@dataclass
class EndpointResult:
    """Counts, throughput and latency percentiles of one endpoint (or ``overall``)."""

    count: int
    errors: dict[str, int]
    error_count: int
    error_rate: float
    throughput_rps: float
    corrected: dict[str, float] | None
    uncorrected: dict[str, float] | None
    histograms: dict[str, str]

    @classmethod
    def build(cls, recorder: EndpointRecorder, duration_s: float, corrected: bool) -> EndpointResult:
        error_count = sum(recorder.errors.values())
        return cls(
            count=recorder.count,
            errors=dict(sorted(recorder.errors.items())),
            error_count=error_count,
            error_rate=error_count / recorder.count if recorder.count else 0.0,
            throughput_rps=recorder.count / duration_s,
            corrected=summarize(recorder.corrected) if corrected else None,
            uncorrected=summarize(recorder.uncorrected),
            histograms={"corrected": encode(recorder.corrected), "uncorrected": encode(recorder.uncorrected)},
        )

    def latency_ms(self, key: str = "p95") -> float | None:
        """The honest figure: corrected when there was a schedule, else uncorrected (e.g. ``p99``)."""
        summary = self.corrected if self.corrected is not None else self.uncorrected
        return None if summary is None else summary[f"{key}_ms"]


@dataclass
class LoadResult:
    """A load phase's result; ``valid`` is False (with ``invalid_reason``) when it must not be graded.

    ``timeseries``: ``throughput_rps``, ``errors_per_s`` and ``latency_p95_ms`` per second of the window
    (by completion time; corrected latency under the open model) and each generator process' CPU.
    ``validity``: ``limited_by`` (None, ``generator`` or ``backlog``), ``generator_cpu_percent_mean``,
    ``generator_loop_lag_ms``, ``cpu_warning``, ``incomplete``, and for the open model ``scheduled``,
    ``unsent``, ``unsent_fraction``, ``schedule_lag_ms`` and ``dispatch_lag_ms`` (percentile summaries).
    ``processes``: per generator process its role, index, recorded count and CPU affinity.
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadResult:
        fields = dict(data)
        fields["overall"] = EndpointResult(**data["overall"])
        fields["endpoints"] = {n: EndpointResult(**e) for n, e in data["endpoints"].items()}
        return cls(**fields)


def build_result(raw: dict[str, Any], spec: LoadSpec) -> LoadResult:
    """Turn the load process' raw output into a `LoadResult`."""
    recorder = Recorder.from_dict(raw["recorder"])
    duration = spec.plan.duration_s
    open_model = spec.plan.model == "open"
    overall = EndpointResult.build(recorder.overall(), duration, open_model)
    validity = _validity(recorder, raw["processes"], spec, overall)
    reasons = validity.pop("reasons")
    return LoadResult(
        model=spec.plan.model,
        target_url=spec.target_url,
        plan=spec.plan.to_dict(),
        workers=spec.workers,
        warmup_s=spec.warmup_s,
        duration_s=duration,
        overall=overall,
        endpoints={n: EndpointResult.build(r, duration, open_model) for n, r in sorted(recorder.endpoints.items())},
        timeseries=_timeseries(recorder, raw["processes"]),
        validity=validity,
        valid=not reasons,
        invalid_reason="; ".join(reasons) if reasons else None,
        window_epoch=[
            min(p["window_epoch"][0] for p in raw["processes"]),
            max(p["window_epoch"][1] for p in raw["processes"]),
        ],
        processes=[{k: v for k, v in p.items() if k != "cpu_percent"} for p in raw["processes"]],
    )


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


def _validity(
    recorder: Recorder, processes: list[dict[str, Any]], spec: LoadSpec, overall: EndpointResult
) -> dict[str, Any]:
    """Validity checks. ``limited_by`` says which kind failed: ``generator`` (its CPU, its event-loop
    lag or its own lateness: the figures describe the generator, not the target) or ``backlog`` (every user was busy,
    so sends fell behind or never happened: the target did not keep up with the offered rate, or the
    user pool is too small; the percentiles then miss the slowest requests)."""
    generator: list[str] = []
    backlog: list[str] = []
    tolerance = spec.lag_tolerance_ms
    cpu_means = []
    for process in processes:
        values = _window_cpu(process["cpu_percent"], spec.plan.duration_s)
        mean = statistics.fmean(values) if values else math.nan
        cpu_means.append(mean)
        label = f"{process['role']} {process['index']}"
        if mean >= spec.cpu_limit_percent:
            generator.append(
                f"load generator saturated: {label} used {mean:.0f} % of a core (limit {spec.cpu_limit_percent:.0f} %)"
            )
        elif process["cpu_warning"]:
            generator.append(f"load generator saturated: Locust's CPU warning fired on {label}")
    loop_lag = summarize(recorder.loop_lag)
    if loop_lag and loop_lag["p99_ms"] > tolerance:
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
        "lag_tolerance_ms": tolerance,
    }
    if spec.plan.model == "open":
        schedule_lag = summarize(recorder.schedule_lag)
        dispatch_lag = summarize(recorder.dispatch_lag)
        unsent_fraction = recorder.unsent / recorder.scheduled if recorder.scheduled else 0.0
        validity.update(
            scheduled=recorder.scheduled,
            unsent=recorder.unsent,
            unsent_fraction=unsent_fraction,
            schedule_lag_ms=schedule_lag,
            dispatch_lag_ms=dispatch_lag,
        )
        if dispatch_lag and dispatch_lag["p99_ms"] > tolerance:
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
        if unsent_fraction > spec.max_unsent_fraction:
            backlog.append(
                f"{recorder.unsent} of {recorder.scheduled} scheduled requests were never sent "
                f"({unsent_fraction:.1%}, tolerance {spec.max_unsent_fraction:.1%})"
            )
    reasons = generator + backlog
    if overall.count == 0:
        reasons.append("no request completed in the measured window")
    validity["limited_by"] = "generator" if generator else "backlog" if backlog else None
    validity["reasons"] = reasons
    return validity
