"""The results file: one versioned JSON schema for every run (documented in docs/results-schema.md).

Writers build `RunResults` and call `save()`; readers call `read()`, which validates and raises
`ResultsError` naming the file and the problem. `load()` gives a tidy pandas frame, one row per sample.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harness.stats import median, median_ci

SCHEMA = "athbench.results"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: bootstrap intervals, recomputed from the samples when read
RUN_STATUSES = ("complete", "incomplete")
SCENARIO_STATUSES = ("complete", "incomplete", "invalid", "failed")
DIRECTIONS = ("lower", "higher", "none")
BOUNDS = ("exact", "at_least", "at_most")

Better = Literal["lower", "higher", "none"]
Bound = Literal["exact", "at_least", "at_most"]


class ResultsError(ValueError):
    """A results file is missing, corrupt, of another schema version, or breaks the schema."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Metric:
    """A measured quantity: every sample (one per repetition), n, the median and its 95 % interval.

    ``ci95`` is the distribution-free order-statistic interval of the median (`harness.stats.median_ci`)
    and ``ci_coverage`` its exact coverage; both are None below n = 6 ("n too small"). ``bound`` says
    what the figure is: ``exact``, ``at_least`` (a lower bound, e.g. percentiles of a backlogged phase)
    or ``at_most`` (an upper bound, e.g. a histogram bucket edge).
    """

    unit: str
    better: Better
    samples: list[float]
    n: int
    median: float
    ci95: tuple[float, float] | None
    ci_coverage: float | None
    bound: Bound = "exact"

    @classmethod
    def from_samples(
        cls,
        samples: list[float] | tuple[float, ...],
        unit: str,
        better: Better = "lower",
        bound: Bound = "exact",
    ) -> Metric:
        values = [float(s) for s in samples if s is not None and math.isfinite(float(s))]
        if not values:
            raise ValueError("a metric needs at least one finite sample")
        if better not in DIRECTIONS:
            raise ValueError(f"better must be one of {DIRECTIONS}, not {better!r}")
        if bound not in BOUNDS:
            raise ValueError(f"bound must be one of {BOUNDS}, not {bound!r}")
        ci = median_ci(values)
        return cls(
            unit,
            better,
            values,
            len(values),
            median(values),
            None if ci is None else (ci.low, ci.high),
            None if ci is None else ci.coverage,
            bound,
        )

    @classmethod
    def single(cls, value: float, unit: str, better: Better = "lower", bound: Bound = "exact") -> Metric:
        return cls.from_samples([value], unit, better, bound)

    @property
    def n_too_small(self) -> bool:
        """True below the n where a 95 % interval of the median exists."""
        return self.ci95 is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "better": self.better,
            "samples": self.samples,
            "n": self.n,
            "median": self.median,
            "ci95": None if self.ci95 is None else list(self.ci95),
            "ci_coverage": self.ci_coverage,
            "bound": self.bound,
        }


@dataclass
class TimeSeries:
    """Values over time; `t` is seconds since the scenario started."""

    unit: str
    t: list[float]
    v: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "t": self.t, "v": list(self.v)}


@dataclass
class ScenarioResult:
    """One scenario run under one profile."""

    name: str
    profile: str
    status: str = "complete"
    reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    started_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    metrics: dict[str, Metric] = field(default_factory=dict)
    timeseries: dict[str, TimeSeries] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "status": self.status,
            "reason": self.reason,
            "params": self.params,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "timeseries": {k: s.to_dict() for k, s in self.timeseries.items()},
            "details": self.details,
            "artifacts": self.artifacts,
        }


@dataclass
class RunResults:
    """Everything one `athbench` run measured, with its environment and status."""

    run_id: str
    pack: str
    status: str = "incomplete"
    status_reason: str | None = None
    started_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    scenarios: list[ScenarioResult] = field(default_factory=list)

    def scenario(self, name: str, profile: str | None = None) -> ScenarioResult | None:
        for result in self.scenarios:
            if result.name == name and (profile is None or result.profile == profile):
                return result
        return None

    @property
    def profiles(self) -> list[str]:
        seen: list[str] = []
        for result in self.scenarios:
            if result.profile not in seen:
                seen.append(result.profile)
        return seen

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "pack": self.pack,
            "status": self.status,
            "status_reason": self.status_reason,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "environment": self.environment,
            "targets": self.targets,
            "scenarios": [s.to_dict() for s in self.scenarios],
        }


def save(results: RunResults, path: Path) -> Path:
    """Write atomically (temporary file + rename), so a crash never leaves half a results file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_json_safe(results.to_dict()), indent=1, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json_safe(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays unwrapped, NaN and infinities as null (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def resolve(path: Path | str) -> Path:
    """Accept a results.json file or a run directory holding one."""
    path = Path(path)
    return path / "results.json" if path.is_dir() else path


def read(path: Path | str) -> RunResults:
    """Read and validate a results file; raise ResultsError naming the file and what is wrong."""
    file = resolve(path)
    try:
        raw = json.loads(file.read_text())
    except FileNotFoundError as exc:
        raise ResultsError(f"{file}: no such results file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{file}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{file}: not valid JSON (corrupt or truncated?): {exc}") from exc
    try:
        return from_dict(raw)
    except ResultsError as exc:
        raise ResultsError(f"{file}: {exc}") from None


def from_dict(raw: Any) -> RunResults:
    """Validate a parsed results document and build RunResults."""
    if not isinstance(raw, dict):
        raise ResultsError("top level must be a JSON object")
    if raw.get("schema") != SCHEMA:
        raise ResultsError(f"not an athbench results file (schema is {raw.get('schema')!r}, expected {SCHEMA!r})")
    version = raw.get("schema_version")
    if not isinstance(version, int):
        raise ResultsError("schema_version is missing or not an integer")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"schema_version {version} is newer than this athbench understands ({SCHEMA_VERSION}); upgrade athbench"
        )
    if version not in READABLE_VERSIONS:
        raise ResultsError(f"schema_version {version} is older than supported ({READABLE_VERSIONS[0]})")
    _require(raw, "", {"run_id": str, "pack": str, "status": str, "scenarios": list})
    status, status_reason = raw["status"], raw.get("status_reason")
    if version == 1 and status == "invalid":  # a version-1 run status no athbench wrote; kept as a reason
        status, status_reason = "incomplete", f"marked invalid (schema 1): {status_reason or 'no reason given'}"
    if status not in RUN_STATUSES:
        raise ResultsError(f"status is {status!r}, expected one of {RUN_STATUSES}")
    scenarios = [_scenario(s, f"scenarios[{i}]") for i, s in enumerate(raw["scenarios"])]
    return RunResults(
        run_id=raw["run_id"],
        pack=raw["pack"],
        status=status,
        status_reason=status_reason,
        started_at=raw.get("started_at") or "",
        finished_at=raw.get("finished_at"),
        environment=raw.get("environment") or {},
        targets={str(k): float(v) for k, v in (raw.get("targets") or {}).items()},
        scenarios=scenarios,
    )


def _require(obj: Any, where: str, fields: dict[str, type]) -> None:
    if not isinstance(obj, dict):
        raise ResultsError(f"{where or 'document'} must be an object")
    for key, kind in fields.items():
        if key not in obj:
            raise ResultsError(f"{where + '.' if where else ''}{key} is missing")
        if not isinstance(obj[key], kind):
            raise ResultsError(f"{where + '.' if where else ''}{key} must be {kind.__name__}")


def _scenario(raw: Any, where: str) -> ScenarioResult:
    _require(raw, where, {"name": str, "profile": str, "status": str, "metrics": dict})
    if raw["status"] not in SCENARIO_STATUSES:
        raise ResultsError(f"{where}.status is {raw['status']!r}, expected one of {SCENARIO_STATUSES}")
    metrics = {}
    for key, m in raw["metrics"].items():
        mw = f"{where}.metrics.{key}"
        _require(m, mw, {"unit": str, "better": str, "samples": list, "n": int})
        if m["better"] not in DIRECTIONS:
            raise ResultsError(f"{mw}.better is {m['better']!r}, expected one of {DIRECTIONS}")
        if not all(isinstance(x, (int, float)) for x in m["samples"]) or not m["samples"]:
            raise ResultsError(f"{mw}.samples must be a non-empty list of numbers")
        if m["n"] != len(m["samples"]):
            raise ResultsError(f"{mw}.n is {m['n']} but there are {len(m['samples'])} samples")
        metrics[key] = _metric(m, mw)
    series = {}
    for key, s in (raw.get("timeseries") or {}).items():
        sw = f"{where}.timeseries.{key}"
        _require(s, sw, {"unit": str, "t": list, "v": list})
        if len(s["t"]) != len(s["v"]):
            raise ResultsError(f"{sw}: t has {len(s['t'])} points but v has {len(s['v'])}")
        series[key] = TimeSeries(s["unit"], s["t"], [float("nan") if x is None else x for x in s["v"]])
    return ScenarioResult(
        name=raw["name"],
        profile=raw["profile"],
        status=raw["status"],
        reason=raw.get("reason"),
        params=raw.get("params") or {},
        started_at=raw.get("started_at") or "",
        finished_at=raw.get("finished_at"),
        metrics=metrics,
        timeseries=series,
        details=raw.get("details") or {},
        artifacts=raw.get("artifacts") or {},
    )


def _metric(m: dict[str, Any], where: str) -> Metric:
    """A metric entry. Its median and interval are functions of the samples, so they are recomputed:
    a version-1 file's bootstrap interval is replaced by the order-statistic one (or "n too small")."""
    bound = m.get("bound", "exact")
    if bound not in BOUNDS:
        raise ResultsError(f"{where}.bound is {bound!r}, expected one of {BOUNDS}")
    return Metric.from_samples(m["samples"], m["unit"], m["better"], bound)


def load(path: Path | str):  # -> pandas.DataFrame
    """A tidy frame of every metric sample: run_id, pack, scenario, profile, metric, unit, better, repetition, value."""
    import pandas as pd

    results = read(path)
    rows = [
        {
            "run_id": results.run_id,
            "pack": results.pack,
            "scenario": s.name,
            "profile": s.profile,
            "status": s.status,
            "metric": name,
            "unit": m.unit,
            "better": m.better,
            "repetition": i,
            "value": value,
        }
        for s in results.scenarios
        for name, m in s.metrics.items()
        for i, value in enumerate(m.samples)
    ]
    columns = ["run_id", "pack", "scenario", "profile", "status", "metric", "unit", "better", "repetition", "value"]
    return pd.DataFrame(rows, columns=columns)
