"""The grading rubric (`reports/rubric.toml`) loaded and validated: areas, metric control points, caps, bands."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")
NOT_MEASURED = "not measured"


class RubricError(ValueError):
    """The rubric file is missing a field or holds an inconsistent value."""


@dataclass(frozen=True)
class MetricRule:
    """One graded metric: ``key`` is ``scenario.metric``; ``good`` scores 90 and ``poor`` scores 50."""

    key: str
    good: float
    poor: float
    weight: float
    scale: str = "linear"
    claim: str | None = None

    @property
    def scenario(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def metric(self) -> str:
        return self.key.split(".", 1)[1]


@dataclass(frozen=True)
class Cap:
    """A limit on an area's score when ``metric`` is below / above ``threshold``."""

    area: str
    metric: str
    comparison: str  # "below" or "above"
    threshold: float
    max_score: float
    reason: str

    def applies(self, value: float) -> bool:
        return value < self.threshold if self.comparison == "below" else value > self.threshold


@dataclass(frozen=True)
class Area:
    key: str
    title: str
    weight: float
    metrics: tuple[MetricRule, ...]


@dataclass(frozen=True)
class Rubric:
    areas: tuple[Area, ...]
    caps: tuple[Cap, ...]
    bands: tuple[tuple[str, float], ...]  # (letter, lower bound), best first

    def letter(self, score: float) -> str:
        """Letter for a score; bands apply to the score rounded to an integer, as reports show it."""
        rounded = round(score)
        for letter, lower in self.bands:
            if rounded >= lower:
                return letter
        return self.bands[-1][0]

    def rule(self, key: str) -> MetricRule | None:
        for area in self.areas:
            for rule in area.metrics:
                if rule.key == key:
                    return rule
        return None

    def area_of(self, key: str) -> Area | None:
        for area in self.areas:
            if any(rule.key == key for rule in area.metrics):
                return area
        return None


def load(path: Path | str | None = None) -> Rubric:
    """Load and validate a rubric file (the packaged one by default)."""
    file = Path(path) if path is not None else DEFAULT_RUBRIC
    try:
        raw = tomllib.loads(file.read_text())
    except FileNotFoundError as exc:
        raise RubricError(f"{file}: no such rubric file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{file}: not valid TOML: {exc}") from exc
    try:
        rubric = _parse(raw)
        _check_declared(rubric)
    except RubricError as exc:
        raise RubricError(f"{file}: {exc}") from None
    return rubric


def _check_declared(rubric: Rubric) -> None:
    """Every metric the rubric names must be declared by its scenario (`Scenario.metrics`): a misspelt
    name would otherwise make its area silently "not measured"."""
    from harness.packs import undeclared_reason

    named = [(f"areas.{a.key}.metrics.{r.key}", r.key) for a in rubric.areas for r in a.metrics]
    named += [(f"caps[{i}].metric", cap.metric) for i, cap in enumerate(rubric.caps)]
    for where, key in named:
        reason = undeclared_reason(key)
        if reason:
            raise RubricError(f"{where}: not a declared metric: {reason}")


def _number(table: dict[str, Any], key: str, where: str) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RubricError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _parse(raw: dict[str, Any]) -> Rubric:
    bands_raw = raw.get("bands")
    if not isinstance(bands_raw, dict) or not bands_raw:
        raise RubricError("[bands] is missing")
    bands = tuple(sorted(((k, _number(bands_raw, k, "bands")) for k in bands_raw), key=lambda b: -b[1]))
    if bands[-1][1] != 0:
        raise RubricError("the lowest band must start at 0")
    areas = []
    for key, table in (raw.get("areas") or {}).items():
        where = f"areas.{key}"
        metrics = []
        for metric_key, m in (table.get("metrics") or {}).items():
            mw = f"{where}.metrics.{metric_key}"
            if metric_key.count(".") != 1:
                raise RubricError(f"{mw}: metric names are 'scenario.metric'")
            scale = m.get("scale", "linear")
            if scale not in ("linear", "complement"):
                raise RubricError(f"{mw}.scale must be 'linear' or 'complement', got {scale!r}")
            rule = MetricRule(
                key=metric_key,
                good=_number(m, "good", mw),
                poor=_number(m, "poor", mw),
                weight=_number(m, "weight", mw),
                scale=scale,
                claim=m.get("claim"),
            )
            if rule.good == rule.poor or rule.weight <= 0:
                raise RubricError(f"{mw}: good and poor must differ and weight must be positive")
            metrics.append(rule)
        if not metrics:
            raise RubricError(f"{where} has no metrics")
        areas.append(Area(key, str(table.get("title", key)), _number(table, "weight", where), tuple(metrics)))
    if not areas:
        raise RubricError("no [areas]")
    area_keys = {a.key for a in areas}
    caps = []
    for i, c in enumerate(raw.get("caps") or []):
        where = f"caps[{i}]"
        if c.get("area") not in area_keys:
            raise RubricError(f"{where}.area {c.get('area')!r} is not one of {sorted(area_keys)}")
        comparison = "below" if "below" in c else "above" if "above" in c else None
        if comparison is None:
            raise RubricError(f"{where} needs `below` or `above`")
        caps.append(
            Cap(
                area=c["area"],
                metric=str(c.get("metric")),
                comparison=comparison,
                threshold=_number(c, comparison, where),
                max_score=_number(c, "max_score", where),
                reason=str(c.get("reason", "")),
            )
        )
    return Rubric(tuple(areas), tuple(caps), bands)
