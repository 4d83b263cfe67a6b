"""Nightly history: a series of results files as a tidy table, change points and charts.

`load_history()` reads results files into one row per (run, scenario, profile, metric) with the run's
median, CI and its coverage (NaN when n is too small for one), bound ("exact", "at_least", "at_most"), n and git
commit, ordered by start time. `detect_change_points()` finds shifts in one metric's series of medians
with PELT (`ruptures`, L2 cost) on the series scaled by a robust noise estimate (the MAD of
successive differences, which a step barely moves), with a BIC-like penalty; each proposed cut must
also pass a Mann-Whitney U test between its neighbouring segments.
`find_changes()` runs it on every series and attributes each change point to the commit range between
the last run before the shift and the first run after it (`git log BEFORE..AFTER` lists the suspects).
`read_history()` also returns one `RunInfo` per run (its results file and pack targets), which the
history page (`reports/history_page.py`) needs to link each run's report and to name targets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import ruptures
from scipy.stats import mannwhitneyu

from harness.results import read, resolve

COLUMNS = [
    "run_index",
    "run_id",
    "started_at",
    "git_commit",
    "run_status",
    "scenario",
    "profile",
    "status",
    "metric",
    "unit",
    "better",
    "n",
    "median",
    "ci_low",
    "ci_high",
    "ci_coverage",
    "bound",
]
SERIES_KEY = ["scenario", "profile", "metric"]
DEFAULT_PENALTY_FACTOR = 3.0
DEFAULT_MIN_SIZE = 3
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class ChangePoint:
    """A shift in one metric's series: `index` is the first run after the shift."""

    scenario: str
    profile: str
    metric: str
    index: int
    run_before: str
    run_after: str
    commit_before: str
    commit_after: str
    median_before: float
    median_after: float
    p_value: float

    @property
    def ratio(self) -> float:
        return self.median_after / self.median_before if self.median_before else math.nan

    @property
    def commit_range(self) -> str:
        """The range to inspect, `git log BEFORE..AFTER` style."""
        return f"{self.commit_before[:12] or '?'}..{self.commit_after[:12] or '?'}"


def results_files(paths: Iterable[Path | str]) -> list[Path]:
    """Expand paths: a results file, a run directory, or a directory of run directories (searched deep)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir() and not resolve(path).exists():
            files.extend(sorted(path.rglob("results.json")))
        else:
            files.append(resolve(path))
    return files


@dataclass(frozen=True)
class RunInfo:
    """One run of a history: where its results file is, and what its pack targeted."""

    index: int
    run_id: str
    started_at: str
    git_commit: str
    pack: str
    status: str
    results_file: Path
    targets: dict[str, float]


def load_history(paths: Iterable[Path | str]) -> pd.DataFrame:
    """The tidy table of every run's metric medians, ordered by start time (then run id)."""
    return read_history(paths)[0]


def read_history(paths: Iterable[Path | str]) -> tuple[pd.DataFrame, list[RunInfo]]:
    """The tidy table (as `load_history`) and the runs in the same order (`RunInfo.index` = run_index)."""
    rows = []
    runs: dict[str, RunInfo] = {}
    for file in results_files(paths):
        run = read(file)
        runs[run.run_id] = RunInfo(
            index=-1,
            run_id=run.run_id,
            started_at=run.started_at,
            git_commit=str(run.environment.get("git_commit") or ""),
            pack=run.pack,
            status=run.status,
            results_file=file,
            targets=dict(run.targets),
        )
        for s in run.scenarios:
            for name, m in s.metrics.items():
                rows.append(
                    {
                        "run_id": run.run_id,
                        "started_at": run.started_at,
                        "git_commit": str(run.environment.get("git_commit") or ""),
                        "run_status": run.status,
                        "scenario": s.name,
                        "profile": s.profile,
                        "status": s.status,
                        "metric": name,
                        "unit": m.unit,
                        "better": m.better,
                        "n": m.n,
                        "median": m.median,
                        "ci_low": m.ci95[0] if m.ci95 else math.nan,  # no interval: n too small
                        "ci_high": m.ci95[1] if m.ci95 else math.nan,
                        "ci_coverage": m.ci_coverage if m.ci_coverage is not None else math.nan,
                        "bound": getattr(m, "bound", "exact"),
                    }
                )
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "run_index"])
    order = frame[["run_id", "started_at"]].drop_duplicates().sort_values(["started_at", "run_id"])
    index = {run_id: i for i, run_id in enumerate(order["run_id"])}
    frame.insert(0, "run_index", frame["run_id"].map(index).astype(int))
    ordered = [replace(runs[run_id], index=i) for run_id, i in index.items()]
    return frame.sort_values(["run_index", *SERIES_KEY], ignore_index=True), ordered


def noise_scale(values: Sequence[float]) -> float:
    """Robust noise estimate: 1.4826 * MAD of successive differences / sqrt(2) (0 for a flat series)."""
    diffs = np.diff(np.asarray(values, dtype=float))
    if diffs.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(diffs - np.median(diffs))) / math.sqrt(2.0))


def detect_change_points(
    values: Sequence[float],
    *,
    penalty_factor: float = DEFAULT_PENALTY_FACTOR,
    min_size: int = DEFAULT_MIN_SIZE,
    alpha: float = DEFAULT_ALPHA,
) -> list[int]:
    """Indices where a new segment starts.

    PELT (L2 cost, penalty `penalty_factor * log(n)` in noise units) proposes cuts; a cut is kept when the
    segments either side differ by Mann-Whitney U at `alpha`.
    """
    data = np.asarray(values, dtype=float)
    if data.ndim != 1 or not np.all(np.isfinite(data)):
        raise ValueError("values must be a one-dimensional series of finite numbers")
    if data.size < 2 * min_size:
        return []
    scale = noise_scale(data)
    if scale == 0.0:
        scale = float(np.std(data)) or 1.0
    standardized = (data - np.median(data)) / scale
    algo = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(standardized)
    cuts = [int(end) for end in algo.predict(pen=penalty_factor * math.log(data.size))[:-1]]
    return [cut for cut, p in zip(cuts, _segment_p_values(data, cuts), strict=True) if p < alpha]


def _segment_p_values(data: np.ndarray, cuts: Sequence[int]) -> list[float]:
    """Mann-Whitney U p-value of each cut between its neighbouring segments (screens PELT's weak cuts)."""
    bounds = [0, *cuts, data.size]
    return [
        float(mannwhitneyu(data[start:cut], data[cut:end], alternative="two-sided").pvalue)
        for start, cut, end in zip(bounds[:-2], bounds[1:-1], bounds[2:], strict=True)
    ]


def find_changes(
    frame: pd.DataFrame,
    *,
    penalty_factor: float = DEFAULT_PENALTY_FACTOR,
    min_size: int = DEFAULT_MIN_SIZE,
    alpha: float = DEFAULT_ALPHA,
) -> list[ChangePoint]:
    """Change points of every (scenario, profile, metric) series, attributed to commit ranges."""
    changes: list[ChangePoint] = []
    usable = frame[frame["status"] == "complete"]
    for (scenario, profile, metric), series in usable.groupby(SERIES_KEY, sort=True):
        series = series.sort_values("run_index")
        medians = series["median"].to_numpy(dtype=float)
        cuts = detect_change_points(medians, penalty_factor=penalty_factor, min_size=min_size, alpha=alpha)
        bounds = [0, *cuts, len(medians)]
        p_values = _segment_p_values(medians, cuts)
        for start, cut, end, p in zip(bounds[:-2], bounds[1:-1], bounds[2:], p_values, strict=True):
            before, after = series.iloc[cut - 1], series.iloc[cut]
            changes.append(
                ChangePoint(
                    scenario=str(scenario),
                    profile=str(profile),
                    metric=str(metric),
                    index=int(after["run_index"]),
                    run_before=str(before["run_id"]),
                    run_after=str(after["run_id"]),
                    commit_before=str(before["git_commit"]),
                    commit_after=str(after["git_commit"]),
                    median_before=float(np.median(medians[start:cut])),
                    median_after=float(np.median(medians[cut:end])),
                    p_value=p,
                )
            )
    return changes


def changes_frame(changes: Sequence[ChangePoint]) -> pd.DataFrame:
    """Change points as a table (with ratio and commit range)."""
    rows = [{**asdict(c), "ratio": c.ratio, "commit_range": c.commit_range} for c in changes]
    columns = [*ChangePoint.__dataclass_fields__, "ratio", "commit_range"]
    return pd.DataFrame(rows, columns=columns)


def plot_history(frame: pd.DataFrame, changes: Sequence[ChangePoint], out_dir: Path) -> list[Path]:
    """One PNG per series: median with its 95 % CI band, change points as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (scenario, profile, metric), series in frame.groupby(SERIES_KEY, sort=True):
        series = series.sort_values("run_index")
        fig, ax = plt.subplots(figsize=(8, 3.2))
        x = series["run_index"].to_numpy()
        ax.fill_between(x, series["ci_low"], series["ci_high"], alpha=0.25, label="95 % CI")
        ax.plot(x, series["median"], marker="o", markersize=3, label="median")
        for c in changes:
            if (c.scenario, c.profile, c.metric) == (scenario, profile, metric):
                ax.axvline(c.index - 0.5, color="red", linestyle="--", linewidth=1)
                ax.annotate(c.commit_range, (c.index - 0.5, ax.get_ylim()[1]), fontsize=7, color="red", va="top")
        ax.set_title(f"{scenario}.{metric} [{profile}]")
        ax.set_xlabel("run (ordered by start time)")
        ax.set_ylabel(str(series["unit"].iloc[0]))
        ax.legend(loc="best", fontsize=7)
        fig.tight_layout()
        path = out_dir / f"{scenario}.{metric}.{profile}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
