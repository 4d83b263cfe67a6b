"""The market-data upstream as a real process: data, fault control, and the resilient client against it."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.processes import ProcessGroup, free_port, wait_for_port
from system_under_test.resilience import BreakerOpen, CallTimeout, State, UpstreamStatusError, build_policies
from system_under_test.upstream import MarketDataClient, UpstreamNotConfigured


@pytest.fixture(scope="module")
def upstream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    group = ProcessGroup(tmp_path_factory.mktemp("upstream"))
    port = free_port()
    child = group.start(
        "upstream",
        [sys.executable, "-m", "system_under_test.upstream", "--host", "127.0.0.1", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        wait_for_port(port, timeout=20, proc=child)
        yield f"http://127.0.0.1:{port}"
    finally:
        group.stop_all()


@pytest.fixture
def faults(upstream_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=upstream_url, timeout=5) as client:
        client.delete("/_faults").raise_for_status()
        yield client
        client.delete("/_faults").raise_for_status()


def test_transactions_are_deterministic_and_newest_first(upstream_url: str, faults: httpx.Client) -> None:
    first = faults.get("/v1/neighbourhoods/kolonaki/transactions", params={"limit": 20}).json()
    again = faults.get("/v1/neighbourhoods/kolonaki/transactions", params={"limit": 20}).json()
    other = faults.get("/v1/neighbourhoods/pangrati/transactions", params={"limit": 20}).json()
    assert first == again and first != other
    assert first["count"] == 20
    dates = [t["sold_on"] for t in first["transactions"]]
    assert dates == sorted(dates, reverse=True)
    assert faults.get("/v1/neighbourhoods/BAD!/transactions").status_code in (404, 422)
    assert faults.get("/v1/neighbourhoods/kolonaki/transactions", params={"limit": 0}).status_code == 422


def test_fault_control_validates_and_resets(faults: httpx.Client) -> None:
    bad = faults.put("/_faults", json={"error_rate": 1.5})
    assert bad.status_code == 422 and "error_rate" in bad.json()["detail"]
    assert faults.put("/_faults", json={"latency_sec": 1}).status_code == 422
    spec = faults.put("/_faults", json={"latency_ms": 5, "error_rate": 1.0}).json()
    assert spec["latency_ms"] == 5 and spec["error_rate"] == 1.0
    assert faults.get("/_faults").json()["error_rate"] == 1.0
    assert faults.get("/v1/neighbourhoods/kolonaki/transactions").status_code == 503
    assert faults.delete("/_faults").json()["error_rate"] == 0.0
    assert faults.get("/v1/neighbourhoods/kolonaki/transactions").status_code == 200


def test_latency_fault_delays_answers(faults: httpx.Client) -> None:
    faults.put("/_faults", json={"latency_ms": 150}).raise_for_status()
    start = time.perf_counter()
    faults.get("/v1/neighbourhoods/kolonaki/transactions").raise_for_status()
    assert time.perf_counter() - start >= 0.15
    assert faults.get("/health").status_code == 200


async def test_client_retries_errors_then_the_breaker_opens(
    upstream_url: str, faults: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = build_policies()
    client = MarketDataClient(upstream_url, policies.upstream)
    try:
        assert len(await client.recent_transactions("kolonaki", 5)) == 5
        faults.put("/_faults", json={"error_rate": 1.0}).raise_for_status()
        before = faults.get("/_faults").json()["counters"]["requests"]
        with pytest.raises(UpstreamStatusError, match="503"):
            await client.recent_transactions("kolonaki")
        assert faults.get("/_faults").json()["counters"]["requests"] - before == 3  # 3 attempts
        for _ in range(4):
            with pytest.raises((UpstreamStatusError, BreakerOpen)):
                await client.recent_transactions("kolonaki")
        assert policies.upstream.breaker is not None
        assert policies.upstream.breaker.state is State.OPEN
        with pytest.raises(BreakerOpen, match="'upstream' is open"):
            await client.recent_transactions("kolonaki")
    finally:
        await client.close()


async def test_blackhole_times_out_within_the_limit(
    upstream_url: str, faults: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATHBENCH_UPSTREAM_TIMEOUT_S", "0.3")
    client = MarketDataClient(upstream_url, build_policies().upstream)
    try:
        faults.put("/_faults", json={"blackhole": True}).raise_for_status()
        start = time.perf_counter()
        with pytest.raises(CallTimeout):
            await client.recent_transactions("kolonaki")
        elapsed = time.perf_counter() - start
        assert 0.3 <= elapsed < 1.5  # timeouts are not retried
        assert faults.get("/_faults").json()["counters"]["blackholed"] >= 1
    finally:
        faults.delete("/_faults")
        await client.close()


async def test_client_without_url_says_so() -> None:
    client = MarketDataClient(None, build_policies().upstream)
    with pytest.raises(UpstreamNotConfigured, match="ATHBENCH_UPSTREAM_URL"):
        await client.recent_transactions("kolonaki")
    await client.close()
