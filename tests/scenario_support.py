"""Helpers for the scenario tests: a small real stack, and running one scenario on it with given params."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.results import ScenarioResult
from harness.stack import Stack, StackConfig
from scenarios.base import Scenario, ScenarioContext

SMALL_SEED = 2_000


@contextmanager
def small_stack(run_dir: Path, **config: Any) -> Iterator[Stack]:
    """A whole embedded stack (PostgreSQL, Redis, upstream, service) seeded with 2,000 properties."""
    with Stack(StackConfig(run_dir=run_dir, seed_properties=SMALL_SEED, **config)) as stack:
        yield stack


def run_scenario(scenario: Scenario, stack: Stack, profile: str, out_dir: Path, **params: Any) -> ScenarioResult:
    """Restart the service under `profile` and run `scenario` with its defaults overridden by `params`."""
    unknown = set(params) - set(scenario.defaults)
    if unknown:
        raise ValueError(f"not parameters of {scenario.name}: {sorted(unknown)}")
    stack.start_service(profile)
    merged = {**scenario.defaults, **params}
    result = ScenarioResult(name=scenario.name, profile=profile, params=merged)
    ctx = ScenarioContext(
        profile=profile, out_dir=out_dir, target_url=stack.service_url, stack=stack, log=lambda m: None
    )
    scenario.execute(ctx, merged, result)
    return result
