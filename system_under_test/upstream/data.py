"""Deterministic synthetic market transactions: the same neighbourhood always gets the same data.

The upstream does not read the service's database (a PostgreSQL fault must not also take down the
upstream). Each neighbourhood slug seeds its own generator; prices scatter log-normally around a
slug-derived base price per m2; dates fall in the 365 days before a fixed reference date.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
from typing import Any

REFERENCE_DATE = dt.date(2026, 1, 1)
ENERGY_CLASSES = ("A+", "A", "B+", "B", "C", "D", "E", "F", "G")
CLASS_WEIGHTS = (1, 3, 5, 9, 14, 20, 20, 16, 12)
HISTORY = 200


def _seed(slug: str) -> int:
    return int.from_bytes(hashlib.sha256(slug.encode()).digest()[:8], "big")


def transactions(slug: str, limit: int) -> list[dict[str, Any]]:
    """The `limit` most recent of the neighbourhood's `HISTORY` transactions, newest first."""
    return _history(slug)[:limit]


@functools.lru_cache(maxsize=1024)
def _history(slug: str) -> list[dict[str, Any]]:
    rng = random.Random(_seed(slug))
    base = 1200.0 + rng.random() * 3800.0
    rows = []
    for i in range(HISTORY):
        area = round(rng.uniform(35.0, 180.0), 1)
        per_m2 = round(base * rng.lognormvariate(0.0, 0.18), 2)
        sold_on = REFERENCE_DATE - dt.timedelta(days=rng.randrange(365))
        rows.append(
            {
                "id": f"{slug}-{i}",
                "sold_on": sold_on.isoformat(),
                "area_m2": area,
                "price_per_m2": per_m2,
                "price_eur": round(per_m2 * area, 2),
                "energy_class": rng.choices(ENERGY_CLASSES, CLASS_WEIGHTS)[0],
            }
        )
    rows.sort(key=lambda r: (r["sold_on"], r["id"]), reverse=True)
    return rows
