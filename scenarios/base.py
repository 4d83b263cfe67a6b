"""What a scenario is: a name, default parameters, and a `run` that fills a ScenarioResult as it measures.

A scenario module `scenarios/<name>.py` defines `SCENARIO = Scenario(...)`. The runner gives it a
`ScenarioContext` (the running stack or a target URL, the profile, where to put artifacts) and an empty
`ScenarioResult` that the scenario fills while it measures, so a Ctrl-C keeps what was measured so far.
Parameters come from the pack file, checked against `defaults` (same keys, same types).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.results import ScenarioResult

if TYPE_CHECKING:
    from harness.load.endpoints import Endpoint
    from harness.stack import Stack


class ScenarioError(RuntimeError):
    """The scenario could not measure what it measures; the message says why."""


@dataclass
class ScenarioContext:
    """What a scenario run gets from the harness."""

    profile: str
    out_dir: Path
    target_url: str
    stack: Stack | None = None
    endpoints: list[Endpoint] | None = None  # with --target: the user's endpoint list (TOML)
    locustfile: Path | None = None  # with --target: the user's locustfile
    target_pids: list[int] = field(default_factory=list)  # with --target: processes to sample, if given
    log: Callable[[str], None] = print
    progress: Callable[[str, float, float], None] | None = None

    @property
    def artifacts_dir(self) -> Path:
        path = self.out_dir / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def require_stack(self) -> Stack:
        if self.stack is None:
            raise ScenarioError("this scenario needs the stack athbench starts itself (not --target)")
        return self.stack

    def restart_service(self, extra_env: Mapping[str, str] | None = None) -> None:
        """Restart the service under this context's profile, optionally with extra environment."""
        stack = self.require_stack()
        stack.start_service(self.profile, extra_env)
        self.target_url = stack.service_url


Runner = Callable[[ScenarioContext, dict[str, Any], ScenarioResult], None]


@dataclass(frozen=True)
class Scenario:
    """A measurement. `run(ctx, params, result)` fills `result.metrics`, `timeseries`, `details`, `artifacts`."""

    name: str
    description: str
    run: Runner
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_stack: bool = True
    area: str = ""
