"""The endpoints a load run requests, and the simple TOML endpoint list used with ``--target URL``.

```toml
[[endpoint]]
name = "ping"            # optional, defaults to "METHOD path"
method = "GET"           # optional, defaults to GET
path = "/_test/ping"
weight = 3               # optional, relative share of requests, defaults to 1
headers = { Authorization = "Bearer x" }   # optional
json = { a = 1 }         # optional request body (sent as JSON)
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_KEYS = frozenset({"name", "method", "path", "weight", "headers", "json"})


@dataclass(frozen=True)
class Endpoint:
    """One request template and its relative weight."""

    path: str
    method: str = "GET"
    name: str = ""
    weight: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "weight": self.weight,
            "headers": dict(self.headers),
            "json": self.json,
        }


def endpoints_from_dicts(items: list[dict[str, Any]], source: str = "endpoint list") -> list[Endpoint]:
    """Build endpoints from plain dicts (the TOML tables or `Endpoint.to_dict` output)."""
    if not items:
        raise ValueError(f"{source}: no endpoints")
    endpoints = []
    for i, item in enumerate(items):
        unknown = set(item) - _KEYS
        if unknown:
            raise ValueError(f"{source}: endpoint #{i + 1} has unknown keys {sorted(unknown)}")
        if "path" not in item:
            raise ValueError(f"{source}: endpoint #{i + 1} has no 'path'")
        try:
            endpoints.append(
                Endpoint(
                    path=str(item["path"]),
                    method=str(item.get("method", "GET")),
                    name=str(item.get("name", "")),
                    weight=float(item.get("weight", 1.0)),
                    headers={str(k): str(v) for k, v in (item.get("headers") or {}).items()},
                    json=item.get("json"),
                )
            )
        except ValueError as exc:
            raise ValueError(f"{source}: endpoint #{i + 1}: {exc}") from exc
    names = [e.name for e in endpoints]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicate endpoint names {duplicates}")
    return endpoints


def load_endpoints(path: str | Path) -> list[Endpoint]:
    """Read a TOML endpoint list (``[[endpoint]]`` tables)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    items = data.get("endpoint")
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected one or more [[endpoint]] tables")
    return endpoints_from_dicts(items, source=str(path))
