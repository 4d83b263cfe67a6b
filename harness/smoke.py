"""Call every documented endpoint of the running service once and check each answer."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass
class Check:
    method: str
    path: str
    expected: int  # HEALTH for the /health document
    ok: bool
    status: int | None
    detail: str


HEALTH = -1  # /health: 200 for pass/warn, 503 for fail, as application/health+json


def _health_answer(response: httpx.Response) -> tuple[bool, str]:
    """The health document must be health+json and its HTTP status must agree with its own status."""
    if not response.headers.get("content-type", "").startswith("application/health+json"):
        return False, f"content-type {response.headers.get('content-type')!r}, expected application/health+json"
    status = response.json().get("status")
    expected = {"pass": 200, "warn": 200, "fail": 503}.get(status)
    if expected != response.status_code:
        return False, f"status {status!r} answered with HTTP {response.status_code}"
    return True, f"status {status}"


def _pick_ids(client: httpx.Client) -> tuple[int, int, str]:
    """A property id, a user id and a neighbourhood that exist, read from the API itself."""
    from_market = client.get("/api/v1/properties/1/energy-assessment")
    neighbourhood = "Kolonaki"
    if from_market.status_code == 200:
        neighbourhood = from_market.json().get("property", {}).get("neighbourhood", neighbourhood)
    return 1, 1, neighbourhood


def run_checks(base_url: str, admin_token: str | None = None, timeout: float = 10.0) -> list[Check]:
    """Every endpoint with the status it must answer; bad input must give 422/404, never 500."""
    results: list[Check] = []
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        property_id, user_id, neighbourhood = _pick_ids(client)
        adhoc = {
            "area_m2": 95.0,
            "year_built": 1978,
            "floors": 2,
            "climate_zone": "B",
            "insulation": "none",
            "windows": "single",
            "heating_system": "oil_boiler",
            "hot_water": "electric",
            "solar_fraction": 0.0,
        }
        calls: list[tuple[str, str, int, dict | None]] = [
            ("GET", "/health/live", 200, None),
            ("GET", "/health/ready", 200, None),
            ("GET", "/health", HEALTH, None),
            ("GET", "/metrics", 200, None),
            ("GET", "/openapi.json", 200, None),
            ("GET", f"/api/v1/properties/{property_id}/energy-assessment", 200, None),
            ("POST", "/api/v1/energy-assessments", 200, adhoc),
            ("GET", f"/api/v1/portfolios/{user_id}/overview", 200, None),
            ("GET", f"/api/v1/market/{neighbourhood}/comparison?property_id={property_id}", 200, None),
            ("GET", f"/api/v1/properties/{property_id}/price-prediction", 200, None),
            ("GET", "/api/v1/properties/999999999/energy-assessment", 404, None),
            ("GET", "/api/v1/properties/not-a-number/energy-assessment", 422, None),
            ("POST", "/api/v1/energy-assessments", 422, {"area_m2": -5}),
        ]
        for method, path, expected, body in calls:
            try:
                response = client.request(method, path, json=body)
                if expected == HEALTH:
                    ok, detail = _health_answer(response)
                else:
                    ok = response.status_code == expected
                    detail = "" if ok else response.text[:300]
                results.append(Check(method, path, expected, ok, response.status_code, detail))
            except httpx.HTTPError as exc:
                results.append(Check(method, path, expected, False, None, str(exc) or type(exc).__name__))
    return results
