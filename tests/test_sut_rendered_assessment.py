"""The energy-assessment endpoint caches its rendered body: byte for byte what FastAPI sends for the
response model, rendered once per load, and an entry an older version cached as a dict still answers."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from system_under_test.api import properties
from system_under_test.api.assessments import assess_with_recommendations
from system_under_test.api.models import PropertyAssessmentOut
from system_under_test.app import create_app
from system_under_test.domain import energy
from system_under_test.settings import Settings


def fake_row(property_id: int) -> dict[str, Any]:
    rng = random.Random(property_id)
    return {
        "id": property_id, "address": f"Οδός Πατησίων {property_id}", "neighbourhood": "kifisia",
        "neighbourhood_id": 3, "climate_zone": rng.choice(energy.CLIMATE_ZONES),
        "area_m2": round(rng.uniform(20.0, 400.0), 1), "year_built": rng.randint(1900, 2024),
        "floors": rng.randint(1, 5), "insulation": rng.choice(energy.INSULATION_LEVELS),
        "windows": rng.choice(energy.WINDOW_TYPES), "heating_system": rng.choice(energy.HEATING_SYSTEMS),
        "hot_water": rng.choice(energy.HOT_WATER_SYSTEMS), "solar_fraction": rng.choice([0.0, 0.3, 0.8]),
        "price_eur": rng.uniform(3e4, 2e6), "primary_energy_kwh_m2": rng.uniform(50.0, 500.0),
        "energy_class": "E", "potential_savings_eur": rng.uniform(0.0, 5000.0), "base_price_per_m2": 1000.0,
    }  # fmt: skip


def value_of(property_id: int) -> dict[str, Any]:
    row = fake_row(property_id)
    return {"property": properties.property_json(row), **assess_with_recommendations(properties.spec_of(row))}


class RecordingCache:
    """Loads on every call and keeps what the loader returned (or answers a preset entry)."""

    def __init__(self, preset: Any = None) -> None:
        self.preset = preset
        self.loaded: list[Any] = []

    async def get_or_load(self, key: str, loader: Any, *, endpoint: str, **_: Any) -> Any:
        if self.preset is not None:
            return self.preset
        value = await loader()
        self.loaded.append(value)
        return value


class Db:
    read = None


def reference_app() -> FastAPI:
    """What FastAPI itself sends when an endpoint returns the dict under the same response model."""
    app = FastAPI()

    @app.get("/p/{property_id}", response_model=PropertyAssessmentOut)
    async def answer(property_id: int) -> dict[str, Any]:
        return value_of(property_id)

    return app


async def test_rendered_body_is_what_fastapi_sends_and_is_cached_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    async def load_property(db: Any, property_id: int) -> dict[str, Any]:
        return fake_row(property_id)

    monkeypatch.setattr(properties, "load_property", load_property)
    app = create_app(Settings(postgres_dsn="postgresql://unused", redis_url="redis://unused"))
    cache = RecordingCache()
    app.state.cache, app.state.db = cache, Db()
    service = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sut")
    reference = httpx.AsyncClient(transport=httpx.ASGITransport(app=reference_app()), base_url="http://ref")
    async with service, reference:
        for property_id in (1, 7, 42, 999):
            ours = await service.get(f"/api/v1/properties/{property_id}/energy-assessment")
            theirs = await reference.get(f"/p/{property_id}")
            assert ours.status_code == theirs.status_code == 200
            assert ours.content == theirs.content
            assert ours.headers["content-type"] == theirs.headers["content-type"]
        assert all(isinstance(v, str) for v in cache.loaded) and len(cache.loaded) == 4  # rendered once, cached

        app.state.cache = RecordingCache(preset=value_of(7))  # a dict cached by an older version
        old = await service.get("/api/v1/properties/7/energy-assessment")
        assert old.content == (await reference.get("/p/7")).content
