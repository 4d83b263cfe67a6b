"""The standard endpoint mix the latency and capacity scenarios send, and per-kind summaries of its results.

One request template (`harness.load.templates`) per kind, its ids drawn per request with Zipf popularity
(s = `zipf_s`, 0.99 by default, YCSB's constant; the hot ids scattered over the range) over ALL the
seeded rows: property ids 1..properties, user ids 1..users and the neighbourhood slugs (the seed writes
contiguous ids from 1: `system_under_test.data.generator`). The reads keep their shares among themselves;
the writes take `write_share_patch` and `write_share_post` of all requests and the reads share the rest:

| kind | request | share (defaults) |
|---|---|---|
| `energy_assessment` | `GET /api/v1/properties/{id}/energy-assessment` | 40 % of reads (38 %) |
| `portfolio_overview` | `GET /api/v1/portfolios/{user}/overview` | 20 % of reads (19 %) |
| `market_comparison` | `GET /api/v1/market/{slug}/comparison?property_id={id}` | 20 % of reads (19 %) |
| `price_prediction` | `GET /api/v1/properties/{id}/price-prediction` | 20 % of reads (19 %) |
| `property_patch` | `PATCH /api/v1/properties/{id}` (admin token), new `insulation` and `windows` | 2 % |
| `assessment_post` | `POST /api/v1/energy-assessments`, an ad-hoc building | 3 % |

The PATCH changes fields the energy assessment depends on, with valid values drawn per request, so it
invalidates the cached answers about that property (and its neighbourhood's comparison, its holders'
overviews) and the next read of them misses; the POST assesses a building given in the body (nothing is
stored). `phase_seed` gives each load phase its own stream. Histograms are keyed by kind (the
endpoint's name), never by concrete URL; `by_kind` summarizes them, and `describe_mix` says in a results
file what was sent.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.load.endpoints import Endpoint
from harness.load.recorder import decode, new_histogram, summarize
from harness.load.templates import DEFAULT_ZIPF_S

MIX_SHARES: dict[str, float] = {
    "energy_assessment": 0.4,
    "portfolio_overview": 0.2,
    "market_comparison": 0.2,
    "price_prediction": 0.2,
}  # the reads, among themselves
READ_SHARES: dict[str, float] = {"energy_assessment": 0.75, "portfolio_overview": 0.25}  # a read-only mix
WRITE_KINDS = ("property_patch", "assessment_post")
MIX_DEFAULTS: dict[str, float] = {"zipf_s": DEFAULT_ZIPF_S, "write_share_patch": 0.02, "write_share_post": 0.03}
TRIVIAL = Endpoint(path="/_test/ping", name="ping")
SPECTRUM_PERCENTILES = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0)

# valid values of the fields the writes send (system_under_test.api.models)
INSULATION = ["none", "partial", "kenak2010", "nzeb"]
WINDOWS = ["single", "double", "double_low_e", "triple"]
HEATING = ["oil_boiler", "gas_boiler", "heat_pump", "electric_resistance", "biomass"]
HOT_WATER = ["electric", "gas", "oil", "heat_pump"]
CLIMATE_ZONES = ["A", "B", "C", "D"]
SOLAR_FRACTIONS = [0.0, 0.1, 0.3, 0.5, 0.7]
BUILDING_BODY = {
    "area_m2": "{area}",
    "floors": "{floors}",
    "year_built": "{year}",
    "insulation": "{insulation}",
    "windows": "{windows}",
    "heating_system": "{heating}",
    "hot_water": "{hot_water}",
    "solar_fraction": "{solar}",
    "climate_zone": "{zone}",
}


def users_for(properties: int) -> int:
    """Users the seed creates for this many properties (one per 200, at least 10)."""
    return max(10, properties // 200)


def neighbourhood_slugs() -> list[str]:
    from system_under_test.data.generator import NEIGHBOURHOODS

    return [n.slug for n in NEIGHBOURHOODS]


def zipf_ids(low: int, high: int, s: float) -> dict[str, Any]:
    """A template source: ids low..high with Zipf popularity."""
    return {"dist": "zipf", "min": low, "max": high, "s": s}


def zipf_choice(values: Sequence[Any], s: float) -> dict[str, Any]:
    """A template source: one of `values` with Zipf popularity, the hot ones scattered by a fixed
    permutation (not the list's order)."""
    order = np.random.default_rng(0x5EED).permutation(len(values))
    weights = 1.0 / np.arange(1, len(values) + 1, dtype=float) ** s
    return {"choice": [values[i] for i in order], "weights": [float(w) for w in weights]}


def _read(kind: str, properties: int, users: int, slugs: Sequence[str], s: float, share: float) -> Endpoint:
    ids = zipf_ids(1, properties, s)
    if kind == "energy_assessment":
        return Endpoint(path="/api/v1/properties/{id}/energy-assessment", name=kind, weight=share, params={"id": ids})
    if kind == "portfolio_overview":
        return Endpoint(
            path="/api/v1/portfolios/{user}/overview", name=kind, weight=share, params={"user": zipf_ids(1, users, s)}
        )
    if kind == "market_comparison":
        return Endpoint(
            path="/api/v1/market/{slug}/comparison?property_id={id}",
            name=kind,
            weight=share,
            params={"slug": zipf_choice(slugs, s), "id": ids},
        )
    return Endpoint(path="/api/v1/properties/{id}/price-prediction", name=kind, weight=share, params={"id": ids})


def _writes(
    properties: int, s: float, patch: float, post: float, admin_headers: Mapping[str, str] | None
) -> list[Endpoint]:
    out = []
    if patch > 0:
        if not admin_headers:
            raise ValueError("a mix with PATCH writes needs the admin token's headers (admin_headers=...)")
        out.append(
            Endpoint(
                path="/api/v1/properties/{id}",
                method="PATCH",
                name="property_patch",
                weight=patch,
                headers=dict(admin_headers),
                json={"insulation": "{insulation}", "windows": "{windows}"},
                params={
                    "id": zipf_ids(1, properties, s),
                    "insulation": {"choice": INSULATION},
                    "windows": {"choice": WINDOWS},
                },
            )
        )
    if post > 0:
        out.append(
            Endpoint(
                path="/api/v1/energy-assessments",
                method="POST",
                name="assessment_post",
                weight=post,
                json=BUILDING_BODY,
                params={
                    "area": {"dist": "uniform", "min": 35, "max": 400},
                    "floors": {"dist": "uniform", "min": 1, "max": 8},
                    "year": {"dist": "uniform", "min": 1930, "max": 2024},
                    "insulation": {"choice": INSULATION},
                    "windows": {"choice": WINDOWS},
                    "heating": {"choice": HEATING},
                    "hot_water": {"choice": HOT_WATER},
                    "solar": {"choice": SOLAR_FRACTIONS},
                    "zone": {"choice": CLIMATE_ZONES},
                },
            )
        )
    return out


def endpoint_mix(
    properties: int,
    *,
    users: int | None = None,
    slugs: Sequence[str] | None = None,
    admin_headers: Mapping[str, str] | None = None,
    zipf_s: float = MIX_DEFAULTS["zipf_s"],
    write_share_patch: float = MIX_DEFAULTS["write_share_patch"],
    write_share_post: float = MIX_DEFAULTS["write_share_post"],
    kinds: Mapping[str, float] = MIX_SHARES,
) -> list[Endpoint]:
    """The mix as weighted request templates over property ids 1..`properties`, user ids 1..`users`
    (default: as many as the seed makes for that many properties) and `slugs` (default: the generator's
    neighbourhoods). `kinds` are the reads and their relative shares; the writes take their shares of all
    requests (0 leaves a write out; PATCH needs `admin_headers`)."""
    users = users_for(properties) if users is None else users
    if properties < 1 or users < 1:
        raise ValueError(f"endpoint_mix needs properties >= 1 and users >= 1, got {properties}, {users}")
    unknown = set(kinds) - set(MIX_SHARES)
    if unknown:
        raise ValueError(f"unknown request kinds {sorted(unknown)}; known: {', '.join(MIX_SHARES)}")
    if not kinds or not all(share > 0 for share in kinds.values()):
        raise ValueError(f"the read kinds need positive shares, got {dict(kinds)}")
    if not zipf_s > 0:
        raise ValueError(f"zipf_s must be > 0, got {zipf_s}")
    writes = write_share_patch + write_share_post
    if write_share_patch < 0 or write_share_post < 0 or writes >= 1:
        raise ValueError(
            "write shares must be >= 0 and leave room for reads, "
            f"got patch {write_share_patch}, post {write_share_post}"
        )
    slugs = list(slugs) if slugs is not None else neighbourhood_slugs()
    total = sum(kinds.values())
    reads = [
        _read(kind, properties, users, slugs, zipf_s, (1.0 - writes) * share / total) for kind, share in kinds.items()
    ]
    return reads + _writes(properties, zipf_s, write_share_patch, write_share_post, admin_headers)


def phase_seed(*labels: object) -> int:
    """The seed of one load phase's request streams (`run_load(seed=...)`): the run's `--seed` combined with
    the phase's labels (scenario, repetition, step...). Phases then draw different ids from the same
    popularity (the hot ids are the same, the tail differs), so no phase replays another's requests into a
    cache that phase warmed (the L2 keeps answers 5 minutes, across scenarios), and the same run seed
    sends the same requests. Phases that must send the same requests (A/B modes) share labels."""
    from harness.load.runner import default_seed

    return zlib.crc32(repr((default_seed(), *labels)).encode())


def mix_options(params: Mapping[str, Any]) -> dict[str, float]:
    """The mix's keyword arguments (`MIX_DEFAULTS` keys) from a scenario's parameters."""
    return {key: float(params[key]) for key in MIX_DEFAULTS}


def _source(spec: Mapping[str, Any]) -> Any:
    if "choice" in spec:
        return {"choice": f"{len(spec['choice'])} values", **({"zipf": True} if "weights" in spec else {})}
    return dict(spec)


def describe_mix(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    """What a results file should say about the mix a scenario sent: per kind its share, request and
    value sources (a choice by its size), and the populations drawn from."""
    total = sum(e.weight for e in endpoints)
    kinds = {
        e.name: {
            "share": e.weight / total,
            "request": f"{e.method} {e.path}",
            "sources": {k: _source(v) for k, v in e.params.items()},
        }
        for e in endpoints
    }
    populations: dict[str, int] = {}
    for e in endpoints:
        for key, spec in e.params.items():
            if spec.get("dist") == "zipf":
                populations["users" if key == "user" else "properties"] = spec["max"] - spec["min"] + 1
            elif key == "slug":
                populations["neighbourhoods"] = len(spec["choice"])
    return {
        "kinds": kinds,
        "populations": populations,
        "note": (
            "ids drawn per request with Zipf popularity over every seeded row, reads and writes: the caches "
            "answer the hot ids and the database the long tail (details' hit_ratio says which path was measured)"
        ),
    }


def kind_of(endpoint_name: str) -> str:
    return endpoint_name.split(":", 1)[0]


def by_kind(endpoints: Mapping[str, Any], duration_s: float) -> dict[str, dict[str, Any]]:
    """Merge a LoadResult's per-endpoint results into one summary per kind (counts, errors, percentiles)."""
    merged: dict[str, dict[str, Any]] = {}
    for name, result in endpoints.items():
        kind = kind_of(name)
        entry = merged.setdefault(
            kind, {"count": 0, "errors": 0, "corrected": new_histogram(), "uncorrected": new_histogram()}
        )
        entry["count"] += result.count
        entry["errors"] += result.error_count
        for which in ("corrected", "uncorrected"):
            entry[which].add(decode(result.histograms[which]))
    out: dict[str, dict[str, Any]] = {}
    for kind, entry in sorted(merged.items()):
        corrected = summarize(entry["corrected"])
        out[kind] = {
            "count": entry["count"],
            "error_rate": entry["errors"] / entry["count"] if entry["count"] else 0.0,
            "throughput_rps": entry["count"] / duration_s,
            "corrected": corrected,
            "uncorrected": summarize(entry["uncorrected"]),
        }
    return out


def percentile_spectrum(encoded_histogram: str) -> list[list[float]]:
    """[[percentile, latency_ms], ...] of an encoded histogram, for a percentile-spectrum chart."""
    histogram = decode(encoded_histogram)
    if histogram.get_total_count() == 0:
        return []
    values = histogram.get_percentile_to_value_dict(list(SPECTRUM_PERCENTILES))
    return [[p, values[p] / 1000.0] for p in SPECTRUM_PERCENTILES]
