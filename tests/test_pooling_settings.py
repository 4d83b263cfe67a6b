"""ATHBENCH_DB_STATEMENT_CACHE_SIZE: asyncpg's statement cache, 0 behind PgBouncer in transaction mode."""

from __future__ import annotations

import pytest

from system_under_test.settings import Settings, SettingsError

ENV = {"ATHBENCH_POSTGRES_DSN": "postgresql://p@127.0.0.1:1/a", "ATHBENCH_REDIS_URL": "redis://127.0.0.1:1"}


def test_statement_cache_defaults_to_asyncpgs_and_can_be_turned_off() -> None:
    assert Settings.from_env(ENV).db_statement_cache_size == 100
    assert Settings.from_env({**ENV, "ATHBENCH_DB_STATEMENT_CACHE_SIZE": "0"}).db_statement_cache_size == 0


@pytest.mark.parametrize("raw", ["-1", "off", "1.5"])
def test_bad_statement_cache_size_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="ATHBENCH_DB_STATEMENT_CACHE_SIZE"):
        Settings.from_env({**ENV, "ATHBENCH_DB_STATEMENT_CACHE_SIZE": raw})
