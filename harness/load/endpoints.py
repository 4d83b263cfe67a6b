"""The endpoints a load run requests, and the TOML endpoint list used with ``--target URL``.

```toml
[[endpoint]]
name = "ping"            # optional, defaults to "METHOD path"
method = "GET"           # optional, defaults to GET
path = "/_test/ping"
weight = 3               # optional, relative share of requests, defaults to 1
headers = { Authorization = "Bearer x" }   # optional
json = { a = 1 }         # optional request body (sent as JSON)

[[endpoint]]             # a request template: {name} placeholders filled per request
name = "item"
path = "/shop/items/{id}.json?ref={ref}"
[endpoint.params]
id = { dist = "zipf", min = 1, max = 200000, s = 0.99 }
ref = { csv = "refs.csv", column = "ref" }  # relative to this file
```

An endpoint with a ``params`` table is a template (`harness.load.templates` has the sources and the
placeholder syntax); one without is sent as written. Templates are parsed and checked when the endpoint
is built, so a bad one fails before anything starts, naming file, endpoint and problem. Histograms are
keyed by the endpoint's name (for a template, by default "METHOD path-template"), never by a concrete URL.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.load.templates import RequestTemplate, TemplateError, placeholders, template_from_endpoint

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_KEYS = frozenset({"name", "method", "path", "weight", "headers", "json", "params"})


@dataclass(frozen=True)
class Endpoint:
    """One request (or request template, when ``params`` is given) and its relative weight.

    ``params`` maps each placeholder to its source table, as in ``[endpoint.params]``; CSV paths in it are
    absolute (or relative to the working directory): `endpoints_from_dicts` resolves them against the
    endpoint file. ``template`` is the parsed template (None for a fixed request)."""

    path: str
    method: str = "GET"
    name: str = ""
    weight: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    template: RequestTemplate | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"endpoint path must start with '/', got {self.path!r}")
        if self.method.upper() not in METHODS:
            raise ValueError(f"endpoint {self.path!r}: unknown HTTP method {self.method!r}")
        object.__setattr__(self, "method", self.method.upper())
        if not self.weight > 0:
            raise ValueError(f"endpoint {self.path!r}: weight must be > 0, got {self.weight}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.method} {self.path}")
        if self.params:
            where = f"endpoint {self.name!r}"
            template = template_from_endpoint(self.name, self.path, self.headers, self.json, self.params, where)
            object.__setattr__(self, "template", template)
        else:
            used = placeholders(self.path) | placeholders(self.json)
            for key, value in self.headers.items():
                used |= placeholders(key) | placeholders(value)
            if used:
                raise TemplateError(
                    f"endpoint {self.name!r}: placeholder(s) {sorted(used)} have no source (add [endpoint.params])"
                )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "weight": self.weight,
            "headers": dict(self.headers),
            "json": self.json,
        }
        if self.params:
            out["params"] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.params.items()}
        return out


def resolve_csv_paths(params: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """``params`` with every relative ``csv`` path made absolute against ``base_dir`` (the endpoint file's
    directory), so the endpoint means the same wherever it is shipped (load process, Locust workers)."""
    out: dict[str, Any] = {}
    for key, spec in params.items():
        if isinstance(spec, Mapping) and "csv" in spec and not Path(str(spec["csv"])).is_absolute():
            spec = {**spec, "csv": str((base_dir / str(spec["csv"])).resolve())}
        out[key] = spec
    return out


def endpoints_from_dicts(
    items: list[dict[str, Any]], source: str = "endpoint list", base_dir: Path | None = None
) -> list[Endpoint]:
    """Build endpoints from plain dicts (the TOML tables or `Endpoint.to_dict` output); relative CSV paths
    of templates are taken relative to ``base_dir``. Errors name ``source``, the endpoint and the problem."""
    if not items:
        raise ValueError(f"{source}: no endpoints")
    endpoints = []
    for i, item in enumerate(items):
        label = f"endpoint #{i + 1}" + (f" {item['name']!r}" if isinstance(item, dict) and "name" in item else "")
        if not isinstance(item, dict):
            raise ValueError(f"{source}: {label} is not a table")
        unknown = set(item) - _KEYS
        if unknown:
            raise ValueError(f"{source}: {label} has unknown keys {sorted(unknown)}")
        if "path" not in item:
            raise ValueError(f"{source}: {label} has no 'path'")
        params = item.get("params") or {}
        if not isinstance(params, Mapping):
            raise ValueError(f"{source}: {label}: 'params' must be a table of sources")
        if base_dir is not None:
            params = resolve_csv_paths(params, base_dir)
        try:
            endpoints.append(
                Endpoint(
                    path=str(item["path"]),
                    method=str(item.get("method", "GET")),
                    name=str(item.get("name", "")),
                    weight=float(item.get("weight", 1.0)),
                    headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
                    json=item.get("json"),
                    params=dict(params),
                )
            )
        except TemplateError as exc:  # already names the endpoint
            raise TemplateError(f"{source}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{source}: {label}: {exc}") from exc
    names = [e.name for e in endpoints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicate endpoint names {duplicates}")
    return endpoints


def load_endpoints(path: str | Path) -> list[Endpoint]:
    """Read a TOML endpoint list (``[[endpoint]]`` tables, templates with ``[endpoint.params]``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    items = data.get("endpoint")
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected one or more [[endpoint]] tables")
    return endpoints_from_dicts(items, source=str(path), base_dir=path.resolve().parent)
