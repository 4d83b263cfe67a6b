"""The service's backup settings from `ATHBENCH_BACKUP_*` variables; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from system_under_test.backup.config import BackupConfig
from system_under_test.backup.errors import BackupError

CORE = {"dsn": "postgresql://u@127.0.0.1/db", "backup_dir": Path("/tmp/backups"), "profile": "optimized"}


def test_defaults_schedule_off_keep_seven_unthrottled() -> None:
    config = BackupConfig.from_env(**CORE, env={})
    assert config.interval_s == 0
    assert config.retention.keep_count == 7
    assert config.rate_bytes_s == 0
    assert config.max_concurrent == 1
    assert config.options.profile == "optimized"


def test_reads_every_knob() -> None:
    env = {
        "ATHBENCH_BACKUP_INTERVAL": "600",
        "ATHBENCH_BACKUP_VERIFY": "0",
        "ATHBENCH_BACKUP_RATE_MB_S": "0",
        "ATHBENCH_BACKUP_MAX_CONCURRENT": "2",
        "ATHBENCH_BACKUP_ZSTD_LEVEL": "9",
        "ATHBENCH_BACKUP_ZSTD_THREADS": "0",
        "ATHBENCH_BACKUP_KEEP": "3",
        "ATHBENCH_BACKUP_RPO_TARGET_S": "900",
        "ATHBENCH_BACKUP_RESTORE_JOBS": "4",
    }
    config = BackupConfig.from_env(**CORE, env=env)
    assert (config.interval_s, config.verify_scheduled, config.rate_bytes_s) == (600, False, 0)
    assert (config.max_concurrent, config.zstd_level, config.zstd_threads) == (2, 9, 0)
    assert config.retention.keep_count == 3
    assert (config.rpo_target_s, config.restore_jobs) == (900, 4)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ATHBENCH_BACKUP_INTERVAL", "soon", "ATHBENCH_BACKUP_INTERVAL must be a number"),
        ("ATHBENCH_BACKUP_KEEP", "0", "ATHBENCH_BACKUP_KEEP must be a number >= 1"),
        ("ATHBENCH_BACKUP_MAX_CONCURRENT", "1.5", "ATHBENCH_BACKUP_MAX_CONCURRENT must be a whole number"),
        ("ATHBENCH_BACKUP_VERIFY", "maybe", "ATHBENCH_BACKUP_VERIFY must be 1 or 0"),
        ("ATHBENCH_BACKUP_ZSTD_LEVEL", "30", "zstd level must be 1..22"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        BackupConfig.from_env(**CORE, env={name: value})


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(BackupError, match="unknown backup profile"):
        BackupConfig.from_env(**{**CORE, "profile": "fast"}, env={})
