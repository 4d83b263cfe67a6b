"""The standard endpoint mix the latency and capacity scenarios send, and per-kind summaries of its results.

The load generator sends fixed paths, so the mix spreads each kind of request over `variants` distinct
ids drawn (seeded) from the seeded database: property ids 1..properties, user ids 1..users, the
generator's neighbourhood slugs. Each variant is one `Endpoint` named `kind:id`; `by_kind` merges the
variants' histograms back into one summary per kind.

| kind | path | share |
|---|---|---|
| `energy_assessment` | `/api/v1/properties/{id}/energy-assessment` | 40 % |
| `portfolio_overview` | `/api/v1/portfolios/{user_id}/overview` | 20 % |
| `market_comparison` | `/api/v1/market/{slug}/comparison?property_id={id}` | 20 % |
| `price_prediction` | `/api/v1/properties/{id}/price-prediction` | 20 % |
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.load.endpoints import Endpoint
from harness.load.recorder import decode, new_histogram, summarize

if TYPE_CHECKING:
    from harness.stack import Stack

MIX_SHARES: dict[str, float] = {
    "energy_assessment": 0.4,
    "portfolio_overview": 0.2,
    "market_comparison": 0.2,
    "price_prediction": 0.2,
}
TRIVIAL = Endpoint(path="/_test/ping", name="ping")
SPECTRUM_PERCENTILES = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0)


def seeded_properties(stack: Stack) -> int:
    """How many properties the stack's database was seeded with."""
    return int(getattr(stack.seed_report, "properties", 0) or stack.config.seed_properties)


def users_for(properties: int) -> int:
    """Users the seed creates for this many properties (one per 200, at least 10)."""
    return max(10, properties // 200)


def neighbourhood_slugs() -> list[str]:
    from system_under_test.data.generator import NEIGHBOURHOODS

    return [n.slug for n in NEIGHBOURHOODS]


def endpoint_mix(
    properties: int,
    variants: int = 25,
    seed: int = 0,
    kinds: Mapping[str, float] = MIX_SHARES,
) -> list[Endpoint]:
    """The mix as weighted endpoints, `variants` distinct ids per kind (fewer if the data has fewer)."""
    if properties < 1 or variants < 1:
        raise ValueError(f"endpoint_mix needs properties >= 1 and variants >= 1, got {properties}, {variants}")
    unknown = set(kinds) - set(MIX_SHARES)
    if unknown:
        raise ValueError(f"unknown request kinds {sorted(unknown)}; known: {', '.join(MIX_SHARES)}")
    rng = random.Random(seed)
    slugs = neighbourhood_slugs()
    endpoints: list[Endpoint] = []
    for kind, share in kinds.items():
        population = users_for(properties) if kind == "portfolio_overview" else properties
        ids = rng.sample(range(1, population + 1), min(variants, population))
        for i in ids:
            if kind == "energy_assessment":
                path = f"/api/v1/properties/{i}/energy-assessment"
            elif kind == "portfolio_overview":
                path = f"/api/v1/portfolios/{i}/overview"
            elif kind == "market_comparison":
                path = f"/api/v1/market/{rng.choice(slugs)}/comparison?property_id={i}"
            else:
                path = f"/api/v1/properties/{i}/price-prediction"
            endpoints.append(Endpoint(path=path, name=f"{kind}:{i}", weight=share / len(ids)))
    return endpoints


def describe_mix(variants: int) -> dict[str, Any]:
    """What a results file should say about the mix a scenario sent."""
    return {
        "shares": dict(MIX_SHARES),
        "variants_per_kind": variants,
        "note": (
            f"a hot set of {variants} ids per kind: after the warm-up the service's caches answer nearly all of "
            "it, so this measures the cached path; cache behaviour over the whole key space is cache_hit_ratio's"
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
