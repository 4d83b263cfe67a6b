"""Request templates: `{name}` placeholders filled per request from declared value sources.

A template's placeholders may stand in its path, query, header values and JSON body (at any depth; a
JSON string that is exactly `{name}` takes the value's own type). `{{` and `}}` are literal braces.
Each placeholder names a source:

- `{ dist = "uniform", min, max }`: integers, uniformly;
- `{ dist = "zipf", min, max, s = 0.99 }`: integers with Zipf popularity (s defaults to YCSB's constant);
  the hot ranks are scattered over the range by a seeded permutation, not clustered at low ids;
- `{ dist = "sequence", min, max }`: min, min+1, ... max, then again (with k workers, each every k-th);
- `{ choice = [...], weights = [...] }`: one of the values (weights optional);
- `{ csv = "FILE", column = "id", order = "random" | "sequential" }`: a column of a CSV file (the path
  relative to the endpoint file).

Values are drawn in seeded blocks (`BLOCK` at a time, pre-generated with numpy), so filling a template
costs a few microseconds per request; `seed` and the worker index give each load worker its own stream,
and the same seed the same stream. A stream keeps the counts of the values it drew, for the record of
what was sent: requests, distinct values, and the share that went to the hottest 1 % of the value space.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 8192
ZIPF_MAX_VALUES = 20_000_000  # the inverse CDF keeps one float per value of the range
DEFAULT_ZIPF_S = 0.99
_TOKEN = re.compile(r"(\{\{|\}\}|\{[A-Za-z_][A-Za-z0-9_]*\})")
_NAME = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class TemplateError(ValueError):
    """A request template or one of its sources is wrong; the message names where and what."""


# ------------------------------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class Source:
    """Where a placeholder's values come from (see the module docstring for the forms)."""

    kind: str  # uniform | zipf | sequence | choice | csv
    low: int = 0
    high: int = 0
    s: float = DEFAULT_ZIPF_S
    values: tuple[Any, ...] = ()
    weights: tuple[float, ...] = ()
    order: str = "random"
    origin: str = ""  # the CSV file and column, for the record

    @property
    def size(self) -> int:
        """How many distinct values the source can give."""
        return self.high - self.low + 1 if self.kind in ("uniform", "zipf", "sequence") else len(self.values)

    def describe(self) -> dict[str, Any]:
        """The source as declared, for the results file."""
        if self.kind in ("uniform", "sequence"):
            return {"dist": self.kind, "min": self.low, "max": self.high}
        if self.kind == "zipf":
            return {"dist": "zipf", "min": self.low, "max": self.high, "s": self.s}
        if self.kind == "choice":
            out: dict[str, Any] = {"choice": list(self.values)}
            if self.weights:
                out["weights"] = list(self.weights)
            return out
        return {"csv": self.origin, "order": self.order, "values": len(self.values)}

    def zipf_top_share(self, fraction: float = 0.01) -> float:
        """Theory: the share of draws that go to the hottest `fraction` of the range (Zipf only)."""
        weights = 1.0 / np.arange(1, self.size + 1, dtype=float) ** self.s
        top = max(1, int(np.ceil(fraction * self.size)))
        return float(weights[:top].sum() / weights.sum())


def _int(spec: Mapping[str, Any], key: str, where: str) -> int:
    if key not in spec:
        raise TemplateError(f"{where}: needs '{key}'")
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TemplateError(f"{where}: '{key}' must be an integer, got {value!r}")
    return value


def parse_source(spec: Any, where: str, base_dir: Path | None = None) -> Source:
    """One source from its TOML table; `where` names it in errors (file, endpoint, placeholder)."""
    if not isinstance(spec, Mapping):
        raise TemplateError(f'{where}: a source is a table such as {{ dist = "uniform", min = 1, max = 100 }}')
    if "dist" in spec:
        dist = spec["dist"]
        allowed = {"dist", "min", "max"} | ({"s"} if dist == "zipf" else set())
        if dist not in ("uniform", "zipf", "sequence"):
            raise TemplateError(f"{where}: unknown distribution {dist!r} (uniform, zipf or sequence)")
        _no_unknown(spec, allowed, where)
        low, high = _int(spec, "min", where), _int(spec, "max", where)
        if low > high:
            raise TemplateError(f"{where}: min ({low}) > max ({high})")
        s = float(spec.get("s", DEFAULT_ZIPF_S))
        if dist == "zipf":
            if not s > 0:
                raise TemplateError(f"{where}: zipf s must be > 0, got {s}")
            if high - low + 1 > ZIPF_MAX_VALUES:
                raise TemplateError(f"{where}: a zipf range holds at most {ZIPF_MAX_VALUES:,} values")
        return Source(dist, low=low, high=high, s=s)
    if "choice" in spec:
        _no_unknown(spec, {"choice", "weights"}, where)
        values = spec["choice"]
        if not isinstance(values, list) or not values:
            raise TemplateError(f"{where}: 'choice' must be a non-empty list")
        weights = spec.get("weights", [])
        if weights and (len(weights) != len(values) or not all(_positive(w) for w in weights)):
            raise TemplateError(f"{where}: 'weights' must be {len(values)} positive numbers, one per choice")
        return Source("choice", values=tuple(values), weights=tuple(float(w) for w in weights))
    if "csv" in spec:
        _no_unknown(spec, {"csv", "column", "order"}, where)
        order = spec.get("order", "random")
        if order not in ("random", "sequential"):
            raise TemplateError(f"{where}: order must be 'random' or 'sequential', got {order!r}")
        path = Path(str(spec["csv"]))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        column = str(spec.get("column", "id"))
        return Source("csv", values=tuple(_csv_column(path, column, where)), order=order, origin=f"{path}:{column}")
    raise TemplateError(f"{where}: a source needs 'dist', 'choice' or 'csv', got keys {sorted(spec)}")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _no_unknown(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise TemplateError(f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})")


def _csv_column(path: Path, column: str, where: str) -> list[Any]:
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise TemplateError(f"{where}: {path} has no column {column!r} (columns: {reader.fieldnames or []})")
            values = [_scalar(row[column]) for row in reader if row.get(column) not in (None, "")]
    except FileNotFoundError:
        raise TemplateError(f"{where}: CSV file {path} not found") from None
    if not values:
        raise TemplateError(f"{where}: column {column!r} of {path} has no values")
    return values


def _scalar(text: str) -> Any:
    """A CSV cell as an int when it is one (ids), else the text."""
    try:
        return int(text)
    except ValueError:
        return text


# ------------------------------------------------------------------------------------------------ templates
def placeholders(value: Any) -> set[str]:
    """Every `{name}` in a string, or in the strings (keys and values) of a JSON-like value."""
    if isinstance(value, str):
        return {tok[1:-1] for tok in _TOKEN.findall(value) if tok not in ("{{", "}}")}
    if isinstance(value, Mapping):
        return set().union(*(placeholders(k) | placeholders(v) for k, v in value.items())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


Values = Mapping[str, Any]


class _Compiler:
    """Turns a template into one generated Python function ``fill(p0, p1, ...)`` (the placeholders' values,
    in sorted name order) returning (path, headers, json body): string pieces become ``%`` formats, a JSON
    string that is exactly ``{name}`` the value itself, and every other constant a name bound to it, so
    one request costs one call and a few string formats."""

    def __init__(self, names: Sequence[str]) -> None:
        self.args = {name: f"_p{i}" for i, name in enumerate(names)}
        self.constants: dict[str, Any] = {}

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def text(self, text: str) -> str:
        """An expression for a string with placeholders (`{{` and `}}` are literal braces)."""
        literal: list[str] = []  # the text as sent, for a string without placeholders
        fmt: list[str] = []  # a `%` format of it
        args: list[str] = []
        for tok in _TOKEN.split(text):
            whole = _NAME.match(tok)
            if whole:
                fmt.append("%s")
                args.append(self.args[whole.group(1)])
                continue
            piece = {"{{": "{", "}}": "}"}.get(tok, tok)
            literal.append(piece)
            fmt.append(piece.replace("%", "%%"))
        if not args:
            return self.constant("".join(literal))
        return f"({self.constant(''.join(fmt))} % ({', '.join(args)},))"

    def json(self, body: Any) -> str:
        """An expression building a fresh copy of a JSON-like body with its placeholders filled."""
        if isinstance(body, str):
            whole = _NAME.match(body)
            return self.args[whole.group(1)] if whole else self.text(body)
        if isinstance(body, Mapping):
            return "{" + ", ".join(f"{self.text(str(k))}: {self.json(v)}" for k, v in body.items()) + "}"
        if isinstance(body, list | tuple):
            return "[" + ", ".join(self.json(v) for v in body) + "]"
        return self.constant(body)

    def function(self, path: str, headers: Mapping[str, str], body: Any) -> Callable[..., tuple[str, dict, Any]]:
        head = "{" + ", ".join(f"{self.text(k)}: {self.text(v)}" for k, v in headers.items()) + "}"
        source = (
            f"def fill({', '.join(self.args.values())}):\n"
            f"    return ({self.text(path)}, {head}, {self.json(body) if body is not None else 'None'})\n"
        )
        namespace: dict[str, Any] = dict(self.constants)
        # the source holds only generated names (_pN, _cN): no text of the template enters it as code
        exec(compile(source, "<request template>", "exec"), namespace)
        return namespace["fill"]


@dataclass
class RequestTemplate:
    """An endpoint's path, headers and JSON body with placeholders, and the source of each placeholder."""

    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    sources: dict[str, Source] = field(default_factory=dict)
    where: str = field(default="", compare=False)  # names it in errors (file and endpoint)

    def __post_init__(self) -> None:
        where = self.where or f"endpoint {self.name!r}"
        used = placeholders(self.path) | placeholders(self.json)
        for key, value in self.headers.items():
            used |= placeholders(key) | placeholders(value)
        missing = sorted(used - set(self.sources))
        if missing:
            raise TemplateError(f"{where}: placeholder(s) {missing} have no source in params")
        unused = sorted(set(self.sources) - used)
        if unused:
            raise TemplateError(f"{where}: source(s) {unused} are used by no placeholder")
        self.names = tuple(sorted(self.sources))  # the order of `fill_args`' arguments
        self.fill_args = _Compiler(self.names).function(self.path, self.headers, self.json)

    @property
    def static(self) -> bool:
        """No placeholders: every request is the same."""
        return not self.sources

    def stream(self, seed: int = 0, worker: int = 0, workers: int = 1) -> TemplateStream:
        """A stream of concrete requests for load worker `worker` of `workers` (disjoint per worker)."""
        return TemplateStream(self, seed, worker, workers)

    def fill(self, values: Values) -> tuple[str, dict[str, str], Any]:
        """(path, headers, json body) with the placeholders replaced by `values`."""
        return self.fill_args(*(values[name] for name in self.names))


# ------------------------------------------------------------------------------------------------ streams
class _Draws:
    """Seeded blocks of one source's values for one worker, with the counts of what was drawn."""

    def __init__(self, source: Source, rng: np.random.Generator, worker: int, workers: int) -> None:
        self.source = source
        self.rng = rng
        self.worker = worker
        self.workers = workers
        self.next_index = worker  # sequence / sequential csv: this worker's next position
        self.block: list[Any] = []
        self.pos = 0
        self.drawn: list[np.ndarray] = []  # every block drawn since `skip` (values, or indices into `values`)
        self.skip = 0  # draws of the first kept block taken before the counting began (`begin_counting`)
        self._cdf: np.ndarray | None = None
        self._perm: np.ndarray | None = None
        if source.kind == "zipf":
            weights = 1.0 / np.arange(1, source.size + 1, dtype=float) ** source.s
            cdf = np.cumsum(weights)
            self._cdf = cdf / cdf[-1]
            # the scatter of hot ranks over the range is the same for every worker (one popularity order)
            self._perm = np.random.default_rng(np.random.SeedSequence([source.size, 0x5EED])).permutation(source.size)
        self._weights = None
        if source.kind == "choice" and source.weights:
            w = np.asarray(source.weights, dtype=float)
            self._weights = w / w.sum()

    def _refill(self) -> None:
        src, n = self.source, BLOCK
        if src.kind == "uniform":
            block = self.rng.integers(src.low, src.high + 1, size=n)
        elif src.kind == "zipf":
            assert self._cdf is not None and self._perm is not None
            ranks = np.searchsorted(self._cdf, self.rng.random(n), side="left")
            block = src.low + self._perm[np.minimum(ranks, src.size - 1)]
        elif src.kind == "sequence" or (src.kind == "csv" and src.order == "sequential"):
            idx = (self.next_index + self.workers * np.arange(n)) % src.size
            self.next_index = int((self.next_index + self.workers * n) % src.size)
            block = src.low + idx if src.kind == "sequence" else idx
        else:  # choice, random csv: indices into values
            block = self.rng.choice(src.size, size=n, p=self._weights)
        self.drawn.append(np.asarray(block, dtype=np.int64))
        if src.kind in ("choice", "csv"):
            self.block = [src.values[i] for i in block.tolist()]
        else:
            self.block = block.tolist()
        self.pos = 0

    def take(self) -> Any:
        pos = self.pos
        if pos >= len(self.block):
            self._refill()
            pos = 0
        self.pos = pos + 1
        return self.block[pos]

    def begin_counting(self) -> None:
        """Forget what was drawn so far: `sent_counts` counts from the next draw on."""
        self.drawn = self.drawn[-1:]
        self.skip = self.pos if self.drawn else 0

    def sent_counts(self) -> dict[Any, int]:
        """How often each value was sent (every block drawn, less the unsent rest of the last)."""
        if not self.drawn:
            return {}
        sent = np.concatenate(self.drawn)[self.skip : len(self.drawn) * BLOCK - (len(self.block) - self.pos)]
        keys, counts = np.unique(sent, return_counts=True)
        return dict(zip(keys.tolist(), counts.tolist(), strict=True))


def sent_summary(counts: Mapping[Any, int], size: int) -> dict[str, Any]:
    """Requests, distinct values, and the share of requests that went to the hottest 1 % of the `size`
    values a source can give."""
    sent = np.array(sorted(counts.values(), reverse=True), dtype=float)
    top = max(1, int(np.ceil(0.01 * size)))
    return {
        "requests": int(sent.sum()),
        "distinct_values": len(sent),
        "top_1pct_share": float(sent[:top].sum() / sent.sum()) if sent.size else None,
    }


def _producer(fill: Callable[..., Any], takes: list[Callable[[], Any]]) -> Callable[[], Any]:
    """``fill`` called with one fresh value from each source (the common arities without a loop)."""
    if len(takes) == 1:
        (t0,) = takes
        return lambda: fill(t0())
    if len(takes) == 2:
        t0, t1 = takes
        return lambda: fill(t0(), t1())
    return lambda: fill(*[take() for take in takes])


class TemplateStream:
    """Concrete requests from one template for one load worker."""

    def __init__(self, template: RequestTemplate, seed: int, worker: int, workers: int) -> None:
        self.template = template
        self.count = 0
        self._final: dict[str, Any] | None = None  # the summary frozen by `end_counting`
        root = np.random.SeedSequence([seed, worker, workers])
        children = root.spawn(max(1, len(template.sources)))
        self._draws = {
            name: _Draws(source, np.random.default_rng(child), worker, workers)
            for (name, source), child in zip(sorted(template.sources.items()), children, strict=False)
        }
        self._takes = [(name, draws.take) for name, draws in self._draws.items()]
        self._produce = _producer(template.fill_args, [draws.take for draws in self._draws.values()])

    def begin_counting(self) -> None:
        """Count what is sent from now on only (e.g. from the start of the measured window): the summary
        then describes the requests of the window, not the warm-up's."""
        self.count = 0
        self._final = None
        for draws in self._draws.values():
            draws.begin_counting()

    def end_counting(self) -> None:
        """Stop counting (e.g. at the end of the measured window): `summary` describes what was sent until
        now. Later calls change nothing."""
        if self._final is None:
            self._final = self.summary(with_counts=True)

    def next_values(self) -> dict[str, Any]:
        self.count += 1
        return {name: take() for name, take in self._takes}

    def next(self) -> tuple[str, dict[str, str], Any]:
        """The next request: (path, headers, json body)."""
        self.count += 1
        return self._produce()

    def summary(self, with_counts: bool = False) -> dict[str, Any]:
        """Per template: its sources and, per source, what was sent (`counts` too, for merging workers)."""
        if self._final is not None:
            final = {**self._final, "sent": {k: dict(v) for k, v in self._final["sent"].items()}}
            if not with_counts:
                for sent in final["sent"].values():
                    sent.pop("counts", None)
            return final
        out: dict[str, Any] = {
            "requests": self.count,
            "sources": {name: self.template.sources[name].describe() for name in sorted(self.template.sources)},
            "sent": {},
        }
        for name, draws in self._draws.items():
            counts = draws.sent_counts()
            out["sent"][name] = sent_summary(counts, draws.source.size)
            if with_counts:
                out["sent"][name]["counts"] = [[k, c] for k, c in counts.items()]
        return out


def merge_summaries(summaries: Sequence[dict[str, Any]], sizes: Mapping[str, int]) -> dict[str, Any]:
    """One template's summaries from several workers (made `with_counts`), merged exactly."""
    if not summaries:
        return {}
    merged: dict[str, Any] = {
        "requests": sum(s["requests"] for s in summaries),
        "sources": summaries[0]["sources"],
        "sent": {},
    }
    for name, size in sizes.items():
        counts: dict[Any, int] = {}
        for summary in summaries:
            for key, count in summary["sent"][name]["counts"]:
                counts[key] = counts.get(key, 0) + count
        merged["sent"][name] = sent_summary(counts, size)
    return merged


def template_from_endpoint(
    name: str,
    path: str,
    headers: Mapping[str, str],
    body: Any,
    params: Mapping[str, Any],
    where: str,
    base_dir: Path | None = None,
) -> RequestTemplate:
    """Build a template from an endpoint table's fields and its `[endpoint.params]` table."""
    sources = {key: parse_source(spec, f"{where}: param {key!r}", base_dir) for key, spec in params.items()}
    return RequestTemplate(name=name, path=path, headers=dict(headers), json=body, sources=sources, where=where)
