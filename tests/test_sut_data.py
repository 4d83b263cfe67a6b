"""Schema, deterministic generator and COPY seeding against the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import numpy as np
import pytest

from system_under_test.data import generator
from system_under_test.data.seed import ensure_seeded, is_empty, seed
from system_under_test.domain import energy


async def _fetch(dsn: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


def test_generator_is_deterministic_and_seed_dependent() -> None:
    a = generator.property_records(generator.generate_properties(42, 0, 500))
    b = generator.property_records(generator.generate_properties(42, 0, 500))
    c = generator.property_records(generator.generate_properties(43, 0, 500))
    assert a == b
    assert a != c
    owners = generator.generate_owners(42, 1000)
    assert owners == generator.generate_owners(42, 1000)


def test_generated_values_are_plausible() -> None:
    chunk = generator.generate_properties(1, 0, 20_000)
    assert chunk.area_m2.min() >= 25 and chunk.area_m2.max() <= 600
    assert set(np.unique(chunk.floors)) <= {1, 2, 3, 4}
    assert chunk.year_built.min() >= 1930 and chunk.year_built.max() <= 2025
    # insulation follows construction era: almost no uninsulated buildings after 2010
    recent = chunk.year_built >= 2010
    assert (chunk.insulation[recent] == 0).mean() < 0.01
    assert (chunk.insulation[chunk.year_built < 1980] == 0).mean() > 0.5
    # every class but the extremes is well represented
    counts = np.bincount(chunk.class_code, minlength=len(energy.ENERGY_CLASSES))
    assert counts[2:8].min() > 100, counts
    assert (chunk.price_eur >= 10_000).all()


def test_seed_loads_every_table_with_keys_and_indexes(fresh_db_dsn: str) -> None:
    seen: list[tuple[int, int]] = []
    report = asyncio.run(seed(fresh_db_dsn, 1500, progress=lambda done, total: seen.append((done, total))))
    assert report.properties == 1500
    assert seen == [(1500, 1500)]
    counts = asyncio.run(
        _fetch(
            fresh_db_dsn,
            "SELECT (SELECT count(*) FROM properties) AS p, (SELECT count(*) FROM market_transactions) AS t, "
            "(SELECT count(*) FROM users) AS u, (SELECT count(*) FROM portfolios) AS pf, "
            "(SELECT count(*) FROM portfolio_properties) AS pp, (SELECT count(*) FROM neighbourhoods) AS n, "
            "(SELECT count(*) FROM climate_zones) AS z",
        )
    )[0]
    assert counts["p"] == 1500
    assert counts["t"] == report.market_transactions > 500
    assert counts["u"] == report.users == 10
    assert counts["pf"] == report.portfolios
    assert counts["pp"] == report.portfolio_properties
    assert counts["n"] == len(generator.NEIGHBOURHOODS)
    assert counts["z"] == 4
    indexes = {r["indexname"] for r in asyncio.run(_fetch(fresh_db_dsn, "SELECT indexname FROM pg_indexes"))}
    assert {"properties_pkey", "properties_neighbourhood_class_idx", "portfolios_user_idx"} <= indexes
    # stored derived columns agree with the model the API uses
    rows = asyncio.run(_fetch(fresh_db_dsn, "SELECT energy_class FROM properties WHERE energy_class NOT IN "
                                            "('A+','A','B+','B','C','D','E','F','G')"))  # fmt: skip
    assert rows == []
    assert report.seconds >= report.load_seconds > 0


def test_seed_reloads_identically_and_ensure_seeded_leaves_data_alone(fresh_db_dsn: str) -> None:
    assert asyncio.run(is_empty(fresh_db_dsn))
    first = asyncio.run(ensure_seeded(fresh_db_dsn, properties=1000))
    assert first is not None and first.properties == 1000
    assert not asyncio.run(is_empty(fresh_db_dsn))
    digest_sql = "SELECT md5(string_agg(p::text, ',' ORDER BY id)) AS d FROM properties p"
    before = asyncio.run(_fetch(fresh_db_dsn, digest_sql))[0]["d"]
    assert asyncio.run(ensure_seeded(fresh_db_dsn, properties=1000)) is None
    asyncio.run(seed(fresh_db_dsn, 1000))
    assert asyncio.run(_fetch(fresh_db_dsn, digest_sql))[0]["d"] == before


def test_seed_rejects_a_bad_size(fresh_db_dsn: str) -> None:
    with pytest.raises(ValueError, match="properties must be between"):
        asyncio.run(seed(fresh_db_dsn, 0))
