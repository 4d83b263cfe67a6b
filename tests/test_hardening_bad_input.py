"""Bad input gets a 4xx that names the field, never a 500; metric labels and 503 bodies stay bounded
and free of driver text (in-process app on the real PostgreSQL and Redis)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.sut_support import ADMIN_TOKEN, running_app, seeded_database, settings_for

pytestmark = pytest.mark.asyncio(loop_scope="session")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
HOUSE = {
    "area_m2": 100, "floors": 1, "year_built": 1975, "insulation": "none", "windows": "single",
    "heating_system": "oil_boiler", "hot_water": "electric", "solar_fraction": 0.0, "climate_zone": "B",
}  # fmt: skip


@pytest.fixture(scope="module")
def seeded_dsn(postgres_dsn: str) -> Iterator[str]:
    with seeded_database(postgres_dsn, 300) as (dsn, _):
        yield dsn


@pytest.fixture
async def client(seeded_dsn: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings_for(seeded_dsn, redis_url, test_knobs=True)) as (_, c):
        yield c


def _body_with(base: dict[str, object], field: str, literal: str) -> str:
    """JSON text of `base` with `field` set to a raw literal (`NaN`, `Infinity`, `1e999`)."""
    return json.dumps({**base, field: "@@"}).replace('"@@"', literal)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize(
    ("method", "path", "base", "field"),
    [
        ("POST", "/api/v1/energy-assessments", HOUSE, "area_m2"),
        ("POST", "/api/v1/energy-assessments", HOUSE, "solar_fraction"),
        ("PATCH", "/api/v1/properties/1", {}, "price_eur"),
        ("PUT", "/_test/knobs", {}, "stall_until"),
    ],
)
async def test_non_finite_numbers_get_a_422_naming_the_field(
    client: httpx.AsyncClient, method: str, path: str, base: dict[str, object], field: str, literal: str
) -> None:
    response = await client.request(method, path, content=_body_with(base, field, literal), headers=AUTH)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field for e in errors), errors


async def test_non_finite_number_in_an_unknown_field_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/energy-assessments", content=_body_with(HOUSE, "bogus", "NaN"), headers=AUTH)
    assert response.status_code == 422, response.text
    assert any(e["loc"][-1] == "bogus" for e in response.json()["detail"])


async def test_method_label_is_bounded(client: httpx.AsyncClient) -> None:
    for method in ("BREW", "X-ANYTHING-123", "get"):
        response = await client.request(method, "/health/live")
        assert response.status_code < 500
    await client.get("/health/live")
    text = (await client.get("/metrics")).text
    lines = [line for line in text.splitlines() if line.startswith("athbench_http_request_duration_seconds_count")]
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in lines}
    assert "other" in methods and "GET" in methods
    assert not methods & {"BREW", "X-ANYTHING-123", "get"}, methods


async def test_503_bodies_carry_a_code_not_the_driver_text(redis_url: str, unused_tcp_port: int) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{unused_tcp_port}/postgres"
    async with running_app(settings_for(dead, redis_url)) as (_, c):
        response = await c.get("/api/v1/properties/1/energy-assessment")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["dependency"] == "postgres"
    assert body["error"] in {"dependency_unavailable", "circuit_open", "overloaded"}
    for driver_text in ("Errno", "Connect call failed", "refused", str(unused_tcp_port)):
        assert driver_text not in response.text


async def test_a_query_error_names_postgres_and_its_sqlstate_only(fresh_db_dsn: str, redis_url: str) -> None:
    async with running_app(settings_for(fresh_db_dsn, redis_url)) as (_, c):
        response = await c.get("/api/v1/properties/1/energy-assessment")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "database_error" and body["sqlstate"] == "42P01"  # undefined table
    assert "relation" not in response.text and "UndefinedTable" not in response.text
