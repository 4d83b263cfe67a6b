"""Backup and disaster recovery for the service: streamed pg_dump, manifests, restore drills, retention.

Modules, one concept each:

- `errors`    the exceptions (every message names what is wrong)
- `pgtools`   where pg_dump / pg_restore live and how a DSN names a database
- `files`     atomic writes, locked temporary files, stale-temporary cleanup
- `threads`   blocking file work in worker threads, safe against cancellation
- `throttle`  a token bucket on bytes per second (the streaming thread sleeps off its debt)
- `checksums` per-table row counts and order-independent content checksums
- `manifest`  the JSON manifest beside every backup file, and the catalogue of a backup directory
- `dump`      taking a backup (baseline: pg_dump's gzip; optimized: -Z0, throttled, piped to `compressor`)
- `compressor` zstd compression in a separate process with lower CPU and I/O priority
- `restore`   SHA-256 check, restore into a database, the verified restore drill (measured RTO)
- `retention` which backups to delete (by count and age, never the newest verified one)
- `config`    the service's backup settings (`ATHBENCH_BACKUP_*` environment variables)
- `service`   the service-side facade: concurrency limit, token bucket, metrics, retention, RPO status
- `scheduler` periodic backups inside the service
- `runtime`   what the app's lifespan starts and stops, and the `backup:rpo` health check
- `metrics`   Prometheus metrics (`athbench_backup_*`)

The package imports nothing itself: the compressor process starts by importing it, and every module
imported here (asyncpg, through `manifest`) would cost each backup ~0.2 s of CPU before compressing.
"""
