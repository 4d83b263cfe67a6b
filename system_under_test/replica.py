"""The optional streaming read replica: its lag, as a `/health` check and a Prometheus gauge.

Read-only endpoint queries go to the replica (`Database.read`) when `ATHBENCH_POSTGRES_REPLICA_DSN` is
set. Lag is the age of the last replayed transaction while the replica has received WAL it has not
replayed yet, and 0 when it has replayed everything it received (an idle primary is not "lag").
"""

from __future__ import annotations

import asyncpg
from prometheus_client import Gauge

from system_under_test.db import Database
from system_under_test.health.checks import CheckResult, Status, now_iso

WARN_LAG_S = 5.0
FAIL_LAG_S = 30.0
CHECK_KEY = "postgres-replica:lag"

REPLICA_LAG = Gauge(
    "athbench_db_replica_lag_seconds",
    "Replication lag of the read replica (seconds behind the primary; 0 when caught up)",
    multiprocess_mode="livemax",
)

LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN NULL
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0.0)::float8
END
"""


def lag_status(lag_s: float) -> Status:
    """Warn from 5 s behind, fail from 30 s."""
    if lag_s >= FAIL_LAG_S:
        return "fail"
    return "warn" if lag_s >= WARN_LAG_S else "pass"


async def replica_lag_s(replica: Database) -> float:
    """Seconds the replica is behind; raises ValueError when the DSN names a server that is not a standby."""
    lag = await replica.fetchval(LAG_SQL)
    if lag is None:
        raise ValueError("ATHBENCH_POSTGRES_REPLICA_DSN names a server that is not in recovery (not a replica)")
    return float(lag)


async def lag_check(replica: Database) -> list[CheckResult]:
    """`postgres-replica:lag` for `/health`; also sets the `athbench_db_replica_lag_seconds` gauge."""
    try:
        lag = await replica_lag_s(replica)
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return [CheckResult(CHECK_KEY, "datastore", "fail", None, "s", now_iso(), f"replica unreachable: {exc}")]
    REPLICA_LAG.set(lag)
    return [CheckResult(CHECK_KEY, "datastore", lag_status(lag), round(lag, 3), "s", now_iso())]
