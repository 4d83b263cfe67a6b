"""Request size limit (system_under_test.limits) on a small app, and its configuration in the service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from system_under_test.app import create_app
from system_under_test.limits import BodySizeLimitMiddleware
from system_under_test.settings import Settings, SettingsError

LIMIT = 1000


class Payload(BaseModel):
    text: str


def small_app() -> FastAPI:
    app = FastAPI()

    @app.post("/model")
    async def model(payload: Payload) -> dict[str, int]:
        return {"length": len(payload.text)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        return {"length": sum([len(chunk) async for chunk in request.stream()])}

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=LIMIT)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.parametrize("path", ["/model", "/raw"])
async def test_body_at_the_limit_is_accepted(client: httpx.AsyncClient, path: str) -> None:
    body = b'{"text": "' + b"a" * (LIMIT - 12) + b'"}'
    assert len(body) == LIMIT
    response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/model", "/raw"])
async def test_declared_length_over_the_limit_gets_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=b"{" + b" " * LIMIT + b"}", headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body too large: the limit is {LIMIT} bytes ({LIMIT + 2} bytes declared)",
        "limit_bytes": LIMIT,
    }


@pytest.mark.parametrize("path", ["/model", "/raw"])
async def test_chunked_body_over_the_limit_gets_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=chunks(LIMIT + 1), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers  # streamed without a declared size
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == LIMIT
    assert "request body too large" in response.json()["detail"]


async def test_chunked_body_under_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/raw", content=chunks(LIMIT))
    assert response.status_code == 200
    assert response.json() == {"length": LIMIT}


async def test_malformed_content_length_gets_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/raw", content=b"abc", headers={"content-length": "3x"})
    assert response.status_code == 400
    assert "invalid Content-Length" in response.json()["detail"]


def test_non_positive_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        BodySizeLimitMiddleware(small_app(), max_bytes=0)


def test_service_mounts_the_limit_from_settings() -> None:
    env = {"ATHBENCH_POSTGRES_DSN": "postgresql://x@127.0.0.1:1/x", "ATHBENCH_REDIS_URL": "redis://127.0.0.1:1"}
    assert Settings.from_env(env).max_body_bytes == 64 * 1024
    settings = Settings.from_env({**env, "ATHBENCH_MAX_BODY_BYTES": "2048"})
    mounted = [m for m in create_app(settings).user_middleware if m.cls is BodySizeLimitMiddleware]
    assert len(mounted) == 1 and mounted[0].kwargs == {"max_bytes": 2048}


@pytest.mark.parametrize("raw", ["lots", "0", "-5", "1.5"])
def test_bad_limit_setting_names_the_variable(raw: str) -> None:
    env = {"ATHBENCH_POSTGRES_DSN": "postgresql://x@127.0.0.1:1/x", "ATHBENCH_REDIS_URL": "redis://127.0.0.1:1"}
    with pytest.raises(SettingsError, match="ATHBENCH_MAX_BODY_BYTES"):
        Settings.from_env({**env, "ATHBENCH_MAX_BODY_BYTES": raw})
