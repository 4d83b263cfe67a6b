"""Reading the service's Prometheus `/metrics` page: samples by name and labels, sums and deltas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape: {(sample name, sorted label pairs): value}."""

    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float]

    def total(self, name: str, /, **labels: str) -> float:
        """Sum of every sample called `name` whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(v for (n, pairs), v in self.samples.items() if n == name and wanted <= set(pairs))

    def label_values(self, name: str, /, label: str) -> list[str]:
        """The distinct values of `label` among samples called `name`."""
        found = {dict(pairs).get(label) for (n, pairs) in self.samples if n == name}
        return sorted(v for v in found if v is not None)

    def has(self, name: str) -> bool:
        return any(n == name for n, _ in self.samples)


def parse(text: str) -> Scrape:
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return Scrape(samples)


def scrape(base_url: str, client: httpx.Client | None = None, timeout_s: float = 5.0) -> Scrape:
    """GET `<base_url>/metrics` and parse it; raise httpx errors as they come."""
    url = f"{base_url.rstrip('/')}/metrics"
    response = httpx.get(url, timeout=timeout_s) if client is None else client.get(url, timeout=timeout_s)
    response.raise_for_status()
    return parse(response.text)
