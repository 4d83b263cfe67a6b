"""Report charts: matplotlib figures rendered to inline SVG strings (no external resources).

Each chart function returns ``None`` when the results hold none of its data, so a report shows only
the charts it can draw from what was measured. Data read besides metrics:

* ``api_latency.details["spectrum"]``: {"corrected" | "uncorrected": [[percentile, ms], ...]};
* timeseries by unit: ``ms`` (latency), ``req/s``, ``%`` with "cpu" in the name, ``MB`` (memory);
* ``backup_time.details["by_size"]`` ([{db_mb, duration_s, throughput_mb_s}]), else its
  ``repetitions`` ([{raw_bytes, backup: {duration_s}}]);
* ``capacity.details["curve"]``: [{concurrency, throughput_rps}].

``history_trend`` draws one metric across runs from the `harness.history` table (the history page).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness.results import RunResults
from harness.usl import UslError, fit_usl
from reports.grading import Assessment, find_scenario, profiles

if TYPE_CHECKING:
    import pandas as pd

    from harness.history import ChangePoint

plt.rcParams.update({"svg.hashsalt": "athbench", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
COLORS = {"baseline": "#c0504d", "optimized": "#4f81bd"}


def _color(profile: str) -> str:
    return COLORS.get(profile, "#7f7f7f")


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r"<!--.*?-->", "", text, flags=re.S)


def _spectrum_points(details: dict, metrics: dict) -> dict[str, list[tuple[float, float]]]:
    """{label: [(percentile, ms)]} from ``details["spectrum"]`` (corrected / uncorrected) or the metrics."""
    spectrum = details.get("spectrum")
    found = {}
    if isinstance(spectrum, dict):
        for label, points in spectrum.items():
            pairs = [(float(p), float(v)) for p, v in points or [] if float(p) < 100.0]
            if pairs:
                found[str(label)] = sorted(pairs)
    if not found:
        pairs = [(float(p), metrics[f"latency_p{p}_ms"].median) for p in (50, 95, 99) if f"latency_p{p}_ms" in metrics]
        if pairs:
            found["corrected"] = pairs
    return found


def latency_spectrum(run: RunResults) -> str | None:
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    drawn = False
    for profile in profiles(run):
        scenario = find_scenario(run, "api_latency", profile)
        if scenario is None:
            continue
        for label, pairs in _spectrum_points(scenario.details, scenario.metrics).items():
            pct = np.array([p for p, _ in pairs])
            style = "-" if label == "corrected" else ":"
            ax.plot(
                1.0 / (1.0 - pct / 100.0),
                [v for _, v in pairs],
                style,
                marker="o",
                ms=3,
                color=_color(profile),
                label=_label(f"{profile} ({label})"),
            )
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xticks([2, 10, 100, 1000, 10000], ["p50", "p90", "p99", "p99.9", "p99.99"])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms)")
    ax.set_title("api_latency: latency percentile spectrum (corrected for coordinated omission)")
    ax.legend(fontsize=7)
    return _svg(fig)


def _label(text: str) -> str:
    """Text from a results file as a literal matplotlib label (no mathtext)."""
    return text.replace("$", r"\$")


def _series_chart(run: RunResults, accept: Callable[[str, str], bool], title: str, ylabel: str) -> str | None:
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    drawn = False
    for scenario in run.scenarios:
        for name, series in scenario.timeseries.items():
            if accept(name, series.unit) and series.t:
                ax.plot(
                    series.t,
                    series.v,
                    color=_color(scenario.profile),
                    lw=1,
                    label=_label(f"{scenario.profile}: {scenario.name}.{name}"),
                )
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _svg(fig)


def latency_over_time(run: RunResults) -> str | None:
    return _series_chart(run, lambda name, unit: unit == "ms" and "latency" in name, "Latency over time", "ms")


def throughput(run: RunResults) -> str | None:
    return _series_chart(run, lambda name, unit: unit in ("req/s", "rps"), "Throughput over time", "requests/s")


def cpu_usage(run: RunResults) -> str | None:
    return _series_chart(run, lambda name, unit: unit == "%" and "cpu" in name, "CPU (% of one core)", "%")


def memory_usage(run: RunResults) -> str | None:
    return _series_chart(
        run, lambda name, unit: unit == "MB" and any(k in name for k in ("rss", "uss", "mem")), "Memory", "MB"
    )


def cache_tiers(run: RunResults) -> str | None:
    tiers = [("hit_ratio_l1", "L1"), ("hit_ratio_l2", "L2"), ("hit_ratio_l3", "L3"), ("hit_ratio_overall", "overall")]
    tiers.append(("hit_ratio_lru_sim", "LRU sim."))
    rows = []
    optimum = None
    for profile in profiles(run):
        scenario = find_scenario(run, "cache_hit_ratio", profile)
        if scenario is None:
            continue
        values = {label: scenario.metrics[key].median for key, label in tiers if key in scenario.metrics}
        if values:
            n = min(scenario.metrics[key].n for key, _ in tiers if key in scenario.metrics)
            rows.append((f"{profile}, median of n={n}" + (" (n too small for an interval)" if n < 6 else ""), values))
        if "hit_ratio_belady" in scenario.metrics:
            optimum = scenario.metrics["hit_ratio_belady"].median
    if not rows:
        return None
    labels = [label for _, label in tiers if any(label in v for _, v in rows)]
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    width = 0.8 / len(rows)
    for i, (profile, values) in enumerate(rows):
        xs = np.arange(len(labels)) + i * width
        colour = _color(profile.split(",")[0])
        ax.bar(xs, [values.get(label, 0.0) for label in labels], width, color=colour, label=_label(profile))
    if optimum is not None:
        ax.axhline(optimum, color="black", ls="--", lw=1, label=f"Belady optimum {optimum:.0%}")
    ax.set_xticks(np.arange(len(labels)) + width * (len(rows) - 1) / 2, labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("hit ratio")
    ax.set_title("Cache hit ratio by tier")
    ax.legend(fontsize=7)
    return _svg(fig)


def _backup_points(details: dict) -> list[dict]:
    """``details["by_size"]``, else one point per repetition from ``details["repetitions"]``."""
    points = [p for p in details.get("by_size") or [] if isinstance(p, dict) and "db_mb" in p]
    if points:
        return points
    for rep in details.get("repetitions") or []:
        try:
            mb = float(rep["raw_bytes"]) / 1e6
            seconds = float(rep["backup_s"] if "backup_s" in rep else rep["backup"]["duration_s"])  # new, old
        except (KeyError, TypeError, ValueError):
            continue
        if seconds > 0:
            points.append({"db_mb": mb, "duration_s": seconds, "throughput_mb_s": mb / seconds})
    return points


def backup_by_size(run: RunResults) -> str | None:
    data = []
    for profile in profiles(run):
        scenario = find_scenario(run, "backup_time", profile)
        points = _backup_points(scenario.details) if scenario else []
        if points:
            data.append((profile, sorted(points, key=lambda p: p["db_mb"])))
    if not data:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 3.0))
    for profile, points in data:
        sizes = [p["db_mb"] for p in points]
        if all("duration_s" in p for p in points):
            left.plot(
                sizes, [p["duration_s"] for p in points], marker="o", color=_color(profile), label=_label(profile)
            )
        if all("throughput_mb_s" in p for p in points):
            right.plot(
                sizes, [p["throughput_mb_s"] for p in points], marker="o", color=_color(profile), label=_label(profile)
            )
    left.set(xlabel="database size (MB)", ylabel="backup duration (s)", title="Backup duration vs size")
    right.set(xlabel="database size (MB)", ylabel="MB/s", title="Backup throughput vs size")
    left.legend(fontsize=7)
    return _svg(fig)


def _capacity_points(details: dict) -> list[tuple[float, float]]:
    """(N, X) from ``details["curve"]`` ([{concurrency, throughput_rps}]) or ``details["usl"]["points"]``."""
    curve = [
        (float(p["concurrency"]), float(p["throughput_rps"]))
        for p in details.get("curve") or []
        if isinstance(p, dict) and "concurrency" in p and "throughput_rps" in p
    ]
    usl_points = (details.get("usl") or {}).get("points") if isinstance(details.get("usl"), dict) else None
    return curve or [(float(n), float(x)) for n, x in usl_points or []]


def capacity_curve(run: RunResults) -> str | None:
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    drawn = False
    for profile in profiles(run):
        scenario = find_scenario(run, "capacity", profile)
        points = _capacity_points(scenario.details) if scenario else []
        if not points:
            continue
        n = np.array([p[0] for p in points])
        ax.plot(n, [p[1] for p in points], "o", color=_color(profile), label=_label(f"{profile} measured"))
        try:
            fit = fit_usl(n, [p[1] for p in points], bootstrap_resamples=0)
        except UslError:
            fit = None
        if fit is not None:
            grid = np.linspace(1, n.max() * 1.5, 100)
            label = _label(profile) + f" USL fit (σ={fit.sigma:.3f}, κ={fit.kappa:.4f}, R²={fit.r_squared:.2f})"
            ax.plot(grid, fit.predict(grid), "-", color=_color(profile), lw=1, label=label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="concurrency (N)", ylabel="throughput (req/s)", title="Capacity curve with USL fit")
    ax.legend(fontsize=7)
    return _svg(fig)


def profile_comparison(assessments: dict[str, Assessment]) -> str | None:
    graded = [(p, a) for p, a in assessments.items() if a.graded]
    if len(graded) < 2:
        return None
    keys = [a.key for a in graded[0][1].areas if all(g.area(a.key).measured for _, g in graded)]
    if not keys:
        return None
    titles = [graded[0][1].area(k).title.replace(" ", "\n", 1) for k in keys]
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / len(graded)
    for i, (profile, assessment) in enumerate(graded):
        areas = [assessment.area(k) for k in keys]
        scores = [a.score for a in areas]
        # an area without an interval (n too small) gets no error bar rather than a zero-width one
        lows = [a.score - a.score_ci[0] if a.score_ci else 0.0 for a in areas]
        highs = [a.score_ci[1] - a.score if a.score_ci else 0.0 for a in areas]
        xs = np.arange(len(keys)) + i * width
        bars = ax.bar(xs, scores, width, color=_color(profile), label=_label(profile))
        with_ci = [j for j, a in enumerate(areas) if a.score_ci]
        if with_ci:
            ax.errorbar(
                xs[with_ci],
                [scores[j] for j in with_ci],
                yerr=[[lows[j] for j in with_ci], [highs[j] for j in with_ci]],
                fmt="none",
                ecolor="black",
                capsize=2,
            )
        for j, area in enumerate(areas):
            if area.provisional:
                bars[j].set_hatch("//")
    ax.set_xticks(np.arange(len(keys)) + width * (len(graded) - 1) / 2, titles, fontsize=7)
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (interval where n allows)")
    ax.set_title("Baseline vs optimized: areas both measured (hatched: provisional, n < 6)")
    ax.legend(fontsize=7)
    return _svg(fig)


def all_charts(run: RunResults, assessments: dict[str, Assessment]) -> dict[str, str]:
    """Every chart the run's data allow, by title."""
    charts = {
        "Baseline vs optimized": profile_comparison(assessments),
        "Latency percentile spectrum": latency_spectrum(run),
        "Latency over time": latency_over_time(run),
        "Throughput": throughput(run),
        "CPU": cpu_usage(run),
        "Memory": memory_usage(run),
        "Cache hit ratio by tier": cache_tiers(run),
        "Backup duration and throughput vs size": backup_by_size(run),
        "Capacity curve (USL)": capacity_curve(run),
    }
    return {title: svg for title, svg in charts.items() if svg is not None}


def history_trend(
    series: pd.DataFrame, changes: Sequence[ChangePoint], ticks: dict[int, str], title: str
) -> str | None:
    """One metric over a history of runs: per profile its median with the 95 % CI band (where n allows),
    bounds drawn hollow, change points as dashed lines labelled with their commit range.

    ``series`` holds `harness.history` rows of one scenario.metric (run_index, profile, median, ci_low,
    ci_high, bound, unit); ``ticks`` labels run indices (e.g. short commits)."""
    if series.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    for profile, rows in series.groupby("profile", sort=True):
        rows = rows.sort_values("run_index")
        x = rows["run_index"].to_numpy()
        colour = _color(str(profile))
        if rows["ci_low"].notna().any():
            ax.fill_between(x, rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2, lw=0)
        ax.plot(x, rows["median"], "-", color=colour, lw=1.2, label=_label(str(profile)))
        exact = rows["bound"] == "exact"
        ax.plot(x[exact], rows["median"][exact], "o", ms=3, color=colour)
        if (~exact).any():
            ax.plot(x[~exact], rows["median"][~exact], "o", ms=5, mfc="white", color=colour)
    ymax = ax.get_ylim()[1]
    for change in changes:
        colour = _color(change.profile)
        ax.axvline(change.index - 0.5, color=colour, ls="--", lw=1)
        ax.annotate(
            _label(change.commit_range), (change.index - 0.5, ymax), fontsize=7, color=colour, va="top", rotation=90
        )
    shown = sorted(ticks)[:: max(1, len(ticks) // 12)]
    ax.set_xticks(shown, [_label(ticks[i]) for i in shown], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(_label(str(series["unit"].iloc[0]) or "value"))
    ax.set_title(_label(title))
    ax.legend(fontsize=7, loc="best")
    return _svg(fig)
