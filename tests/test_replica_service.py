"""The service with a streaming read replica: read endpoints query the replica, writes the primary, and
the replica's lag is reported on /health and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from harness.replica import EmbeddedReplica
from harness.stack import DATABASE, Stack, StackConfig
from system_under_test.settings import Settings

READS = {  # endpoint -> what only its SELECTs read (the overview may come from the materialized view)
    "/api/v1/properties/{id}/energy-assessment": ("FROM properties p JOIN neighbourhoods",),
    "/api/v1/portfolios/{id}/overview": ("FROM portfolios", "FROM mv_portfolio_stats"),
}


def reads(queries: list[str], markers: tuple[str, ...]) -> bool:
    return any(q.lstrip().upper().startswith("SELECT") and any(m in q for m in markers) for q in queries)


@pytest.fixture(scope="module")
def stack_with_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, EmbeddedReplica]]:
    config = StackConfig(tmp_path_factory.mktemp("replica-service"), seed_properties=300, upstream=False)
    with Stack(config) as stack:
        assert stack.embedded_postgres is not None
        replica = EmbeddedReplica(stack.embedded_postgres, stack.run_dir / "replica", stack.group)
        replica.start()
        stack.start_service(extra_env={"ATHBENCH_POSTGRES_REPLICA_DSN": replica.dsn_for(DATABASE)})
        yield stack, replica


async def last_queries(dsn: str) -> list[str]:
    """The latest statement of every client backend connected to the run's database on that server."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", DATABASE
        )
        return [row["query"] for row in rows]
    finally:
        await conn.close()


def test_settings_read_the_replica_dsn() -> None:
    env = {"ATHBENCH_POSTGRES_DSN": "postgresql://p@127.0.0.1:1/a", "ATHBENCH_REDIS_URL": "redis://127.0.0.1:1"}
    assert Settings.from_env(env).postgres_replica_dsn is None
    replica = "postgresql://p@127.0.0.1:2/a"
    assert Settings.from_env({**env, "ATHBENCH_POSTGRES_REPLICA_DSN": replica}).postgres_replica_dsn == replica


@pytest.mark.parametrize("path", list(READS))
def test_read_endpoints_query_the_replica(stack_with_replica: tuple[Stack, EmbeddedReplica], path: str) -> None:
    stack, replica = stack_with_replica
    for item in range(1, 6):  # distinct ids: cache misses, so each one loads from the database
        response = httpx.get(stack.service_url + path.format(id=item), timeout=10)
        assert response.status_code == 200, response.text
    on_replica = asyncio.run(last_queries(replica.dsn_for(DATABASE)))
    on_primary = asyncio.run(last_queries(stack.postgres_dsn))
    assert reads(on_replica, READS[path]), on_replica
    assert not reads(on_primary, READS[path]), on_primary


def test_writes_go_to_the_primary(stack_with_replica: tuple[Stack, EmbeddedReplica]) -> None:
    stack, replica = stack_with_replica
    response = httpx.patch(
        f"{stack.service_url}/api/v1/properties/5",
        json={"floors": 3},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text  # a replica would refuse the UPDATE
    replica.wait_caught_up(DATABASE)
    assert httpx.get(f"{stack.service_url}/api/v1/properties/5/energy-assessment").json()["property"]["floors"] == 3


def test_lag_is_reported_on_health_and_metrics(stack_with_replica: tuple[Stack, EmbeddedReplica]) -> None:
    stack, _ = stack_with_replica
    body = httpx.get(f"{stack.service_url}/health", timeout=10).json()
    (check,) = body["checks"]["postgres-replica:lag"]
    assert check["status"] == "pass" and 0 <= check["observedValue"] < 5 and check["observedUnit"] == "s"
    assert "athbench_db_replica_lag_seconds " in httpx.get(f"{stack.service_url}/metrics").text


def test_a_lost_replica_fails_its_check_by_name(stack_with_replica: tuple[Stack, EmbeddedReplica]) -> None:
    stack, replica = stack_with_replica  # last test of the module: it stops the replica
    replica.stop()
    response = httpx.get(f"{stack.service_url}/health", timeout=20)
    (check,) = response.json()["checks"]["postgres-replica:lag"]
    assert response.status_code == 503
    assert check["status"] == "fail" and check["output"].startswith("replica unreachable")
