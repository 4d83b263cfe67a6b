"""The service's client of the market-data upstream, every call through the `upstream` policy."""

from __future__ import annotations

from typing import Any

import httpx

from ..resilience import Policy, UpstreamStatusError


class UpstreamNotConfigured(Exception):
    """No `ATHBENCH_UPSTREAM_URL` was given, so market data from the upstream is unavailable."""

    def __init__(self) -> None:
        super().__init__("market-data upstream not configured (ATHBENCH_UPSTREAM_URL unset)")


class MarketDataClient:
    """`await client.recent_transactions(slug)`; raises on failure (see `resilience.unavailable_reason`)."""

    def __init__(self, base_url: str | None, policy: Policy) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.policy = policy
        # The policy's time limiter bounds each attempt; httpx's own timeout is only a safety net.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=2.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def recent_transactions(self, slug: str, limit: int = 50) -> list[dict[str, Any]]:
        if self.base_url is None:
            raise UpstreamNotConfigured()
        url = f"{self.base_url}/v1/neighbourhoods/{slug}/transactions"

        async def get() -> list[dict[str, Any]]:
            response = await self._http.get(url, params={"limit": limit})
            if response.status_code >= 400:
                raise UpstreamStatusError(response.status_code, url)
            return response.json()["transactions"]

        return await self.policy.call(get)

    async def close(self) -> None:
        await self._http.aclose()
