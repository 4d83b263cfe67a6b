"""Pack files (`scenarios/packs/<name>.toml`): which scenarios to run, their parameters, and the targets.

A pack is validated before anything runs; a bad one is rejected with the file, the key and what was
expected, and a key it does not know is an error, never ignored (`TABLES`, `PACK_KEYS`). Scenarios are
found by name: `scenarios.<name>` must define `SCENARIO`. Parameters must be declared by the scenario (its
`defaults`, same types); `[targets]` keys must be declared metrics (`scenario.metric`, `Scenario.metrics`).
`undeclared_reason` is the same check for other files that name metrics (the rubric, the docs).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scenarios
from scenarios.base import MetricSpec, Scenario

PACKS_DIR = Path(scenarios.__file__).parent / "packs"
TABLES = ("pack", "scenarios", "targets", "plan")  # a pack file's top-level tables
PACK_KEYS = ("name", "description", "seed_properties")  # the keys of its [pack] table


class PackError(ValueError):
    """A pack file is missing or malformed; the message names the file, the key and what was expected."""


@dataclass
class PackEntry:
    scenario: Scenario
    params: dict[str, Any]


@dataclass
class Pack:
    name: str
    path: Path
    description: str = ""
    entries: list[PackEntry] = field(default_factory=list)
    seed_properties: int | None = None  # [pack] seed_properties: the database size the stack seeds
    targets: dict[str, float] = field(default_factory=dict)
    plan: dict[str, float] = field(default_factory=dict)  # [plan]: the capacity plan's target


def available_scenarios() -> dict[str, Scenario]:
    """Every module under `scenarios/` that defines SCENARIO, by name."""
    found: dict[str, Scenario] = {}
    for info in pkgutil.iter_modules(scenarios.__path__):
        if info.name in ("base",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"scenarios.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    return found


def declared_metrics() -> dict[str, MetricSpec]:
    """Every declared metric of every scenario, by ``scenario.metric``."""
    return {f"{s.name}.{m.name}": m for s in available_scenarios().values() for m in s.metrics}


def undeclared_reason(key: str) -> str | None:
    """Why `key` does not name a declared metric (``scenario.metric``), or None when it does."""
    if not isinstance(key, str) or key.count(".") != 1:
        return f"{key!r} is not a name of the form scenario.metric"
    scenario_name, metric = key.split(".")
    known = available_scenarios()
    if scenario_name not in known:
        return f"no scenario named {scenario_name!r}{_suggest(scenario_name, known)}"
    names = known[scenario_name].metric_names
    if metric not in names:
        hint = _suggest(metric, names)
        return f"{scenario_name} declares no metric {metric!r}{hint} (declared: {', '.join(names)})"
    return None


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def get_scenario(name: str) -> Scenario:
    known = available_scenarios()
    if name not in known:
        raise PackError(f"unknown scenario {name!r}; known scenarios: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def pack_path(name_or_path: str | Path) -> Path:
    """A pack name (`quick`) or a path to a TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    path = PACKS_DIR / f"{name_or_path}.toml"
    if not path.exists():
        names = sorted(p.stem for p in PACKS_DIR.glob("*.toml"))
        raise PackError(f"no pack named {str(name_or_path)!r}; packs: {', '.join(names)}")
    return path


def load_pack(name_or_path: str | Path) -> Pack:
    path = pack_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PackError(f"{path}: no such pack file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{path}: not valid TOML: {exc}") from None
    return parse_pack(raw, path)


def parse_pack(raw: dict[str, Any], path: Path) -> Pack:
    def fail(key: str, expected: str, got: Any = None) -> PackError:
        got_text = "" if got is None else f", got {got!r}"
        return PackError(f"{path}: key {key!r}: expected {expected}{got_text}")

    unknown = set(raw) - set(TABLES)
    if unknown:
        raise fail(sorted(unknown)[0], "one of the tables [pack], [scenarios.NAME], [targets], [plan]")
    meta = raw.get("pack", {})
    unknown = set(meta) - set(PACK_KEYS) if isinstance(meta, dict) else set()
    if unknown:
        raise fail(f"pack.{sorted(unknown)[0]}", f"one of the [pack] keys {', '.join(PACK_KEYS)}")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise fail("pack.name", "a string naming the pack", meta.get("name") if isinstance(meta, dict) else meta)
    table = raw.get("scenarios")
    if not isinstance(table, dict) or not table:
        raise fail("scenarios", "at least one [scenarios.NAME] table")
    known = available_scenarios()
    size = meta.get("seed_properties")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise fail("pack.seed_properties", "a positive integer (properties the stack seeds)", size)
    pack = Pack(name=meta["name"], path=path, description=str(meta.get("description", "")), seed_properties=size)
    for name, params in table.items():
        if name not in known:
            raise fail(f"scenarios.{name}", f"a known scenario ({', '.join(sorted(known))})")
        if not isinstance(params, dict):
            raise fail(f"scenarios.{name}", "a table of parameters", params)
        scenario = known[name]
        checked = dict(scenario.defaults)
        for key, value in params.items():
            if key not in scenario.defaults:
                allowed = ", ".join(sorted(scenario.defaults)) or "none"
                raise fail(f"scenarios.{name}.{key}", f"a parameter of {name} ({allowed})")
            try:
                checked[key] = _check_type(scenario.defaults[key], value)
            except ValueError as exc:
                raise fail(f"scenarios.{name}.{key}", str(exc), value) from None
        pack.entries.append(PackEntry(scenario, checked))
    targets = raw.get("targets", {})
    if not isinstance(targets, dict):
        raise fail("targets", 'a table of "scenario.metric" = number')
    for key, value in targets.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise fail(f"targets.{key}", "a number", value)
        reason = undeclared_reason(key)
        if reason:
            raise fail(f"targets.{key}", f"a declared metric (scenario.metric): {reason}")
        pack.targets[key] = float(value)
    if "plan" in raw:
        from reports.capacity_plan import PlanError, Target  # the plan's keys and checks live with the plan

        try:
            Target.from_dict(raw["plan"], "plan")
        except PlanError as exc:
            raise PackError(f"{path}: {exc}") from None
        pack.plan = {k: float(v) for k, v in raw["plan"].items()}
    return pack


def _check_type(default: Any, value: Any) -> Any:
    """Accept `value` if it has the default's type (ints are accepted where floats are expected)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("true or false")
    elif isinstance(default, float):
        if not number:
            raise ValueError("a number")
        return float(value)
    elif isinstance(default, int):
        if not number or not isinstance(value, int):
            raise ValueError("an integer")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ValueError("a string")
    elif isinstance(default, list) and not isinstance(value, list):
        raise ValueError("a list")
    return value
