"""Results files for the report tests, shaped like a `--profile both` run of the release pack.

The figures are hand-written fixtures for testing grading and rendering, not measurements.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from harness.results import Metric, RunResults, ScenarioResult, TimeSeries, save

# (scenario, metric) -> (unit, better, baseline samples, optimized samples)
FIGURES: dict[tuple[str, str], tuple[str, str, list[float], list[float]]] = {
    ("health_overhead", "cpu_overhead_percent"): ("%", "lower", [0.9, 1.1, 1.0], [0.3, 0.4, 0.3]),
    ("health_overhead", "event_loop_lag_max_ms"): ("ms", "lower", [1004.0, 1011.0, 1007.0], [6.1, 7.9, 5.4]),
    ("health_overhead", "event_loop_lag_p99_ms"): ("ms", "lower", [980.0, 1002.0, 995.0], [3.2, 4.0, 3.1]),
    ("health_overhead", "health_round_ms"): ("ms", "lower", [1180.0, 1210.0, 1195.0], [21.0, 24.0, 22.5]),
    ("health_overhead", "health_interval_s"): ("s", "lower", [30.0, 30.0, 30.0], [15.0, 15.0, 15.0]),
    ("memory_footprint", "rss_idle_mb"): ("MB", "lower", [88.0, 89.0, 88.5], [91.0, 92.0, 91.5]),
    ("memory_footprint", "rss_steady_mb"): ("MB", "lower", [131.0, 134.0, 129.0], [118.0, 120.0, 119.0]),
    ("memory_footprint", "rss_growth_mb_per_min"): ("MB/min", "lower", [2.1, 2.6, 2.3], [0.1, 0.2, 0.1]),
    ("api_latency", "latency_p50_ms"): ("ms", "lower", [18.0, 19.5, 18.7], [6.2, 6.0, 6.4]),
    ("api_latency", "latency_p95_ms"): ("ms", "lower", [142.0, 155.0, 149.0], [41.0, 44.0, 39.5]),
    ("api_latency", "latency_p99_ms"): ("ms", "lower", [1010.0, 1030.0, 1022.0], [88.0, 95.0, 90.0]),
    ("api_latency", "throughput_rps"): ("req/s", "higher", [198.0, 199.0, 197.5], [199.5, 199.8, 199.6]),
    ("api_latency", "error_rate"): ("fraction", "lower", [0.0004, 0.0006, 0.0005], [0.0, 0.0, 0.0001]),
    ("api_latency", "server_error_rate"): ("fraction", "lower", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    ("api_latency", "service_cpu_percent"): ("%", "lower", [27.0, 25.5, 26.1], [14.0, 13.2, 13.6]),
    ("cache_hit_ratio", "hit_ratio_overall"): ("fraction", "higher", [0.64, 0.66, 0.65], [0.88, 0.89, 0.87]),
    ("cache_hit_ratio", "hit_ratio_l1"): ("fraction", "higher", [0.64, 0.66, 0.65], [0.61, 0.62, 0.60]),
    ("cache_hit_ratio", "hit_ratio_l2"): ("fraction", "higher", [0.0, 0.0, 0.0], [0.24, 0.25, 0.25]),
    ("cache_hit_ratio", "hit_ratio_belady"): ("fraction", "higher", [0.93, 0.93, 0.93], [0.93, 0.93, 0.93]),
    ("cache_hit_ratio", "hit_ratio_lru_sim"): ("fraction", "higher", [0.86, 0.86, 0.86], [0.86, 0.86, 0.86]),
    ("cache_hit_ratio", "cached_latency_p95_ms"): ("ms", "lower", [31.0, 35.0, 33.0], [4.0, 4.2, 3.9]),
    ("consistency", "stale_read_share_in_process"): ("fraction", "lower", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    ("consistency", "stale_read_share_cross_process"): ("fraction", "lower", [0.43, 0.41, 0.45], [0.0, 0.0, 0.0]),
    ("consistency", "staleness_p99_ms_cross_process"): ("ms", "lower", [368.0, 240.0, 300.0], [2.0, 3.0, 2.5]),
    ("backup_time", "backup_duration_s"): ("s", "lower", [41.0, 43.5, 42.0], [17.0, 17.6, 17.2]),
    ("backup_time", "raw_dump_duration_s"): ("s", "lower", [12.0, 12.4, 12.1], [12.1, 12.2, 12.0]),
    ("backup_time", "backup_time_ratio"): ("ratio", "lower", [3.4, 3.5, 3.47], [1.40, 1.44, 1.42]),
    ("backup_time", "compression_ratio"): ("ratio", "lower", [0.21, 0.21, 0.21], [0.19, 0.19, 0.19]),
    ("backup_time", "backup_throughput_mb_s"): ("MB/s", "higher", [9.5, 9.1, 9.3], [23.0, 22.4, 22.8]),
    ("backup_time", "restore_duration_s"): ("s", "lower", [30.0, 31.0, 30.5], [29.0, 30.0, 29.5]),
    ("backup_time", "restore_verified"): ("bool", "higher", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]),
    ("backup_time", "live_p95_backup_ratio"): ("ratio", "lower", [3.1, 2.8, 3.0], [1.15, 1.2, 1.1]),
    ("db_query", "dashboard_query_p95_ms"): ("ms", "lower", [176.0, 181.0, 184.0], [31.0, 33.0, 32.0]),
    ("db_query", "query_mean_ms"): ("ms", "lower", [44.0, 46.0, 45.0], [14.0, 15.0, 14.5]),
    ("db_query", "slow_queries"): ("count", "lower", [3.0, 3.0, 4.0], [0.0, 0.0, 0.0]),
    ("db_query", "unused_indexes"): ("count", "none", [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]),
    ("db_query", "pool_saturation"): ("fraction", "lower", [0.7, 0.75, 0.72], [0.3, 0.28, 0.31]),
    ("capacity", "max_sustainable_rps"): ("req/s", "higher", [230.0, 240.0, 236.0], [410.0, 430.0, 421.0]),
    ("capacity", "max_rps_ratio_to_trivial"): ("ratio", "higher", [0.21, 0.22, 0.21], [0.38, 0.40, 0.39]),
    ("capacity", "usl_sigma"): ("", "none", [0.09, 0.1, 0.095], [0.04, 0.05, 0.045]),
    ("capacity", "usl_kappa"): ("", "none", [0.004, 0.005, 0.0045], [0.001, 0.0012, 0.0011]),
    ("capacity", "usl_peak_concurrency"): ("users", "none", [14.0, 15.0, 14.0], [28.0, 29.0, 28.0]),
    ("capacity", "properties_assessed_per_hour"): ("1/h", "higher", [8.2e5, 8.5e5, 8.4e5], [1.5e6, 1.5e6, 1.5e6]),
    ("resilience_faults", "availability"): ("fraction", "higher", [0.991, 0.993, 0.992], [0.9995, 0.9993, 0.9996]),
    ("resilience_faults", "breaker_open_time_s"): ("s", "none", [0.0, 0.0, 0.0], [5.1, 5.3, 5.0]),
    ("resilience_faults", "recovery_time_s"): ("s", "lower", [31.0, 29.0, 30.0], [5.5, 5.2, 5.4]),
    ("resilience_faults", "fault_error_rate"): ("fraction", "lower", [0.2, 0.21, 0.19], [0.02, 0.02, 0.03]),
    ("resilience_faults", "hung_requests"): ("count", "lower", [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
}

HOT_FRAMES = {
    "baseline": [
        {
            "function": "psutil.cpu_percent",
            "file": "psutil/__init__.py",
            "line": 1846,
            "self_fraction": 0.031,
            "total_fraction": 0.031,
            "longest_hold_ms": 1003.0,
            "caller": {
                "function": "system_under_test.health.checks.SystemCheck.run",
                "file": "system_under_test/health/checks.py",
                "line": 88,
            },
        },
        {
            "function": "system_under_test.assessment.energy.assess",
            "file": "system_under_test/assessment/energy.py",
            "line": 41,
            "self_fraction": 0.012,
            "total_fraction": 0.02,
            "longest_hold_ms": 10.0,
            "caller": None,
        },
    ],
    "optimized": [
        {
            "function": "system_under_test.assessment.energy.assess",
            "file": "system_under_test/assessment/energy.py",
            "line": 41,
            "self_fraction": 0.011,
            "total_fraction": 0.019,
            "longest_hold_ms": 10.0,
            "caller": None,
        },
        {
            "function": "psutil.cpu_percent",
            "file": "psutil/__init__.py",
            "line": 1820,
            "self_fraction": 0.0004,
            "total_fraction": 0.0004,
            "longest_hold_ms": 0.0,
            "caller": {
                "function": "system_under_test.health.cpu.CpuSampler.sample",
                "file": "system_under_test/health/cpu.py",
                "line": 31,
            },
        },
    ],
}


def _timeseries(profile: str) -> dict[str, dict[str, TimeSeries]]:
    t = [i * 0.5 for i in range(60)]
    slow = profile == "baseline"
    cpu = [(26.0 if slow else 13.5) + 3 * math.sin(x) for x in t]
    rss = [(125.0 if slow else 118.0) + (0.04 * x if slow else 0.002 * x) for x in t]
    p95 = [(1000.0 if slow and int(x) % 30 == 2 else 150.0 if slow else 42.0) + math.cos(x) for x in t]
    rps = [200.0 + math.sin(3 * x) for x in t]
    return {
        "api_latency": {
            "service_cpu_percent": TimeSeries("%", t, cpu),
            "service_rss_mb": TimeSeries("MB", t, rss),
            "latency_p95_ms": TimeSeries("ms", t, p95),
            "throughput_rps": TimeSeries("req/s", t, rps),
        }
    }


def _details(name: str, profile: str) -> dict[str, Any]:
    slow = profile == "baseline"
    if name == "health_overhead":
        return {"hot_frames": [f for f in copy.deepcopy(HOT_FRAMES[profile]) if "health" in str(f["caller"])]}
    if name == "api_latency":
        scale = 3.5 if slow else 1.0
        return {
            "hot_frames": [f for f in copy.deepcopy(HOT_FRAMES[profile]) if "health" not in str(f["caller"])],
            "spectrum": {
                kind: [
                    [p, v * scale * extra] for p, v in [(50, 6.2), (75, 12.0), (90, 30.0), (99, 90.0), (99.9, 180.0)]
                ]
                for kind, extra in (("corrected", 1.0), ("uncorrected", 0.8))
            },
        }
    if name == "backup_time":
        factor = 2.4 if slow else 1.0
        return {
            "by_size": [
                {"db_mb": mb, "duration_s": mb / 23.0 * factor + 0.5, "throughput_mb_s": 23.0 / factor}
                for mb in (50, 100, 200, 400)
            ]
        }
    if name == "capacity":
        lam, sigma, kappa = (30.0, 0.095, 0.0045) if slow else (32.0, 0.045, 0.0011)
        return {
            "curve": [
                {"concurrency": n, "throughput_rps": lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))}
                for n in (1, 2, 4, 8, 16, 32)
            ]
        }
    return {}


def samples(figures: list[float], repetitions: int) -> list[float]:
    """``repetitions`` samples from the three written figures: cycled, each later cycle 0.4 % higher
    (values of 0 stay 0, so tied figures stay tied)."""
    return [figures[i % len(figures)] * (1.0 + 0.004 * (i // len(figures))) for i in range(repetitions)]


def build_run(
    profiles: tuple[str, ...] = ("baseline", "optimized"),
    run_id: str = "20261127T050102Z-release",
    repetitions: int = 3,
) -> RunResults:
    """A complete run of every graded scenario under each profile, each metric with ``repetitions`` samples."""
    run = RunResults(
        run_id=run_id,
        pack="release",
        status="complete",
        started_at="2026-11-27T05:01:02+00:00",
        finished_at="2026-11-27T05:41:40+00:00",
        environment={
            "cpu_model": "Intel(R) Xeon(R) CPU @ 2.20GHz",
            "cores": 2,
            "os": "Linux 6.1",
            "python": "3.11.7",
            "packages": {"locust": "2.24.1"},
            "git_commit": "0123abc",
            "stack": {"postgres": "16.2", "redis": "6.2.14"},
        },
        targets={"api_latency.latency_p95_ms": 100.0},
    )
    names = list(dict.fromkeys(s for s, _ in FIGURES))
    for profile in profiles:
        series = _timeseries(profile)
        for name in names:
            metrics = {
                metric: Metric.from_samples(
                    samples(base if profile == "baseline" else opt, repetitions), unit=unit, better=better
                )
                for (scenario, metric), (unit, better, base, opt) in FIGURES.items()
                if scenario == name
            }
            run.scenarios.append(
                ScenarioResult(
                    name=name,
                    profile=profile,
                    status="complete",
                    params={"repetitions": repetitions},
                    started_at="2026-11-27T05:02:00+00:00",
                    finished_at="2026-11-27T05:05:00+00:00",
                    metrics=metrics,
                    timeseries=series.get(name, {}),
                    details=_details(name, profile),
                )
            )
    return run


def write_run(path: Path, run: RunResults | None = None) -> Path:
    """Save a fixture run as a results file (through harness.results) and return its path."""
    return save(run or build_run(), path)
