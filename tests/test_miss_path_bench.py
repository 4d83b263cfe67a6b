"""benchmarks.miss_path: the quick mode end to end (three arms, interleaved rounds, ratios), the minimal
reference app's read, and the summary's intervals ("n too small" below 6 rounds)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from benchmarks import miss_path
from benchmarks.minimal_app import DSN_VARIABLE, create_app
from system_under_test.api.properties import load_property, property_json
from system_under_test.db import Database
from tests.sut_support import seeded_database


def fake_rounds(rps: dict[str, list[float]]) -> list[dict[str, dict[str, float]]]:
    n = len(next(iter(rps.values())))
    return [{arm: {"rps": rps[arm][i]} for arm in miss_path.ARMS} for i in range(n)]


def test_summary_pairs_ratios_by_round_and_refuses_an_interval_below_six_rounds() -> None:
    six = fake_rounds({"optimized": [100, 200, 300, 400, 500, 600], "baseline": [50, 100, 150, 200, 250, 300],
                       "minimal": [400, 800, 1200, 1600, 2000, 2400]})  # fmt: skip
    summary = miss_path.summarize(six)
    assert summary["n"] == 6
    assert summary["ratios"]["optimized/baseline"]["values"] == [2.0] * 6  # paired within each round
    assert summary["ratios"]["optimized/minimal"]["median"] == 0.25
    assert summary["arms"]["optimized"]["ci95"] == [100.0, 600.0]  # n = 6: [min, max], coverage 96.9 %
    assert summary["arms"]["optimized"]["ci_coverage"] == pytest.approx(0.969, abs=1e-3)
    three = miss_path.summarize(six[:3])
    assert three["ratios"]["optimized/minimal"]["ci95"] is None
    assert "n too small" in three["ratios"]["optimized/minimal"]["note"]


def test_minimal_app_reads_the_same_row_as_the_service(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with seeded_database(postgres_dsn, 200) as (dsn, _):
        monkeypatch.setenv(DSN_VARIABLE, dsn)

        async def compare() -> None:
            db = await Database.open(dsn, 2)
            app = create_app()
            try:
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://minimal") as client:
                        for property_id in (1, 17, 200):
                            answer = await client.get(f"/api/v1/properties/{property_id}/energy-assessment")
                            assert answer.status_code == 200
                            expected = property_json(await load_property(db, property_id))
                            assert {k: answer.json()[k] for k in expected} == expected
                        assert (await client.get("/api/v1/properties/201/energy-assessment")).status_code == 404
            finally:
                await db.close()

        asyncio.run(compare())


def test_quick_mode_measures_three_arms_interleaved(tmp_path: Path) -> None:
    config = miss_path.QUICK
    results = miss_path.run(config, tmp_path, log=lambda _: None)
    assert len(results["rounds"]) == config.rounds
    for row in results["rounds"]:
        assert set(row) == set(miss_path.ARMS)
        for arm, m in row.items():
            assert m["rps"] > 0 and m["errors"] == 0, (arm, m)
            assert len(m["load_average"]) == 2
        assert row["optimized"]["hit_ratio"] is not None  # the service says X-Cache; the minimal app does not
        assert row["minimal"]["hit_ratio"] is None
    summary = results["summary"]
    assert summary["n"] == config.rounds
    assert set(summary["ratios"]) == {"optimized/minimal", "optimized/baseline"}
    assert all(r["ci95"] is None and "n too small" in r["note"] for r in summary["ratios"].values())
    assert "optimized/minimal" in miss_path.report(results)
