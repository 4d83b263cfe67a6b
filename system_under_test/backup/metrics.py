"""Prometheus metrics of backups and restore drills (default registry, served with the service's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DURATION_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

BACKUP_DURATION = Histogram(
    "athbench_backup_duration_seconds", "Duration of a backup", ["profile"], buckets=DURATION_BUCKETS
)
RESTORE_DURATION = Histogram(
    "athbench_backup_restore_duration_seconds",
    "Duration of a restore drill's restore (decompression + pg_restore): the measured RTO",
    buckets=DURATION_BUCKETS,
)
BACKUP_BYTES = Counter("athbench_backup_bytes", "Bytes written to backup files (compressed) and dumped (raw)", ["kind"])
LAST_SIZE_BYTES = Gauge(
    "athbench_backup_last_size_bytes", "Size of the last backup", ["kind"], multiprocess_mode="mostrecent"
)
THROUGHPUT = Gauge(
    "athbench_backup_throughput_mb_per_second", "pg_dump output MB/s of the last backup", multiprocess_mode="mostrecent"
)
LAST_SUCCESS = Gauge(
    "athbench_backup_last_success_timestamp_seconds",
    "Unix time the last successful backup finished",
    multiprocess_mode="max",
)
LAST_VERIFIED = Gauge(
    "athbench_backup_last_verified_timestamp_seconds",
    "Unix time of the last successful restore drill",
    multiprocess_mode="max",
)
FAILURES = Counter("athbench_backup_failures", "Failed backups and restore drills", ["operation"])
IN_PROGRESS = Gauge("athbench_backup_in_progress", "Backups running now", multiprocess_mode="livesum")
