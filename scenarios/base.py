"""The scenario contract: what a scenario declares, and the one API (`ScenarioContext`) it measures through.

A scenario module `scenarios/<name>.py` defines `SCENARIO = Scenario(...)` and imports only this module
and `harness.load` (plans, endpoints, LoadResult). It declares:

- `metrics=(MetricSpec(name, unit, better, area, meaning), ...)`: every metric it may publish (`better`:
  lower / higher / none; `area`: the rubric area that grades it, or the scenario's own area; `meaning`:
  one line). Packs' `[targets]`, `reports/rubric.toml` and the docs' metric tables are checked against
  these declarations (`harness.packs`, `tests/test_docs.py`).
- `defaults={param: default}`: its parameters; a pack's values are checked against the defaults' types.

`run(ctx, params, result)` measures. `result` is the `ScenarioResult` it fills with `details`,
`timeseries` and `artifacts`; **metrics are published only through `ctx.record`**. The runner calls
`Scenario.execute(ctx, params, result)`, which binds the context to the result and, afterwards, rejects
metrics that were not declared.

`ScenarioContext` (everything a scenario may use):

- recording: `ctx.record(metric, value_or_values, bound="exact")` appends samples to a declared metric and
  republishes `result.metrics[metric]` (declared unit and better) at once, so an interrupted run keeps
  every sample so far; `bound="at_least"` (e.g. `phase.bound` of a backlogged phase) or `"at_most"` marks
  the samples as bounds, and the metric is then a bound. None / NaN values are not samples (skipped).
  Recording an undeclared metric raises `UndeclaredMetric`. `ctx.samples(metric)` reads them back.
  `ctx.invalidate(reason)` marks the run invalid (not graded), keeping earlier reasons.
- load phases, with ONE validity policy applied here, never by the scenario (`harness.phase.judge`):
  `ctx.load_phase(plan, endpoints=None, label=..., warmup_s=..., **run_load_kwargs) -> Phase`. A generator
  fault (saturated, late) marks the run invalid with the reason, except in a search step
  (`load_phase(..., search_step=True)`: the search ends there, as a lower bound, and the step is listed in
  `details["generator_limited"]`); a backlog (the service did not keep up)
  is listed in `details["overloaded"]` and `phase.bound == "at_least"`: record its latency percentiles
  with `bound=phase.bound`. `Phase`: `.load` (LoadResult), `.latency_ms("p95")`, `.good_throughput_rps`,
  `.point(**fields)` (a `details["points"]` row), `.mean("cpu_percent.service")` / `.values(...)` (the
  service sampled over the phase's window, inside `ctx.sampling()`), `.fault`, `.overloaded`, `.bound`.
  `with ctx.sampling() as sampled:` samples the service's process tree (or the `--target-pid`
  processes; `sampled` is None without any) alongside every phase run inside it; `sampled.series(name)`
  gives a whole series. `ctx.background_phase(plan, endpoints, label=..., **kw)` starts a phase in a
  thread (`.is_alive()`); `ctx.finish_phase(handle) -> Phase` joins and judges it.
  `with ctx.pinned(enabled) as affinity:` optional CPU split (pass `cpu_affinity=affinity.generator`).
  `ctx.describe_machine(note)`: where the phases ran and how latency was timed (closed models).
- the service: `ctx.restart_service(env=None, *, profile=None, workers=None)` (target URL kept in step),
  `ctx.service_processes()`, `ctx.service_pid`, `ctx.service_environment()`, `ctx.service_cpu_seconds()`
  ((run, wait) seconds of its threads), `ctx.admin_headers()`, `ctx.flush_service_cache()`,
  `ctx.scrape()` (its Prometheus /metrics), `ctx.target_url`, `ctx.profile`.
- the stack's servers: `ctx.postgres_dsn`, `ctx.redis_url`, `ctx.flush_redis()`, `ctx.run_dir`,
  `ctx.process_group`, `ctx.embedded_postgres` (None when external).
- attached servers (context managers yielding `Attached(dsn, ready_s)`): `ctx.read_replica()` (a streaming
  hot standby of the embedded PostgreSQL), `ctx.pgbouncer(pool_size)` (transaction pooling).
- faults (context managers; `FaultUnavailable` on entry, with the reason, when impossible on this stack):
  `ctx.pause_postgres()`, `ctx.stop_redis()`, `ctx.upstream_fault(latency_ms=... | error_rate=...)`.
- seeded data facts: `ctx.data.properties`, `.users`, `.property_ids`, `.user_ids`, `.neighbourhoods`
  ((id, slug)), `.neighbourhood_slugs`; the standard mix `endpoint_mix(ctx.data.properties, users=...,
  admin_headers=ctx.admin_headers(), **mix_options(params))` (request templates, `harness.workload`;
  `MIX_DEFAULTS`: the mix's parameters, for a scenario's defaults; `phase_seed(scenario, rep, ...)`: a
  phase's own request stream, `ctx.load_phase(..., seed=phase_seed(...))`).
- A/B phase loops: `for rep, mode in counterbalanced(("a", "b"), repetitions):` (A B, B A, A B, ...).
- re-exported helpers: `endpoint_mix`, `describe_mix`, `by_kind`, `percentile_spectrum`, `TRIVIAL`,
  `MIX_SHARES`, `READ_SHARES` (read-only mix), `fit_usl`, `UslError`, `parse_metrics` (Prometheus text),
  `BackgroundPhase`, `Attached`, `ScenarioResult`, `TimeSeries`, `Window`, `Phase`, `SampledRun`, `Bound`;
  capacity search (`harness.capacity_search`): `search`, `SearchConfig`, `SearchResult`, `StepOutcome`;
  request streams timed per request (`harness.probe`): `Probe`, `open_stream`, `replay`, `send_lag_ms`,
  `latency_percentile_ms`; `pg_bin_dir` (PostgreSQL's client programs); the modules `profiling` (py-spy),
  `cache_sim` (offline LRU / Belady) and `trend` (memory-growth trend).
- artifacts: `ctx.artifacts_dir`, `ctx.out_dir`, `ctx.log(msg)`; `ctx.endpoints` / `ctx.locustfile` /
  `ctx.target_pids` with `--target`; `ctx.require_stack()` only for what the context does not wrap.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from harness import cache_sim, faults, profiling, prometheus, trend
from harness.affinity import AffinityPlan
from harness.capacity_search import SearchConfig, SearchResult, StepOutcome, search
from harness.faults import FaultUnavailable
from harness.load.plan import ClosedPlan, OpenPlan
from harness.phase import (
    OVERLOADED_NOTE,
    LoadThread,
    Phase,
    SampledRun,
    Window,
    judge,
    pinned,
    schedstat_seconds,
    service_sampler,
)
from harness.postgres import pg_bin_dir
from harness.probe import Probe, latency_percentile_ms, open_stream, replay, send_lag_ms
from harness.prometheus import parse as parse_metrics
from harness.results import BOUNDS, DIRECTIONS, Better, Bound, Metric, ScenarioResult, TimeSeries
from harness.sampler import Sampler
from harness.seeded import SeededData, SeededDataError
from harness.usl import UslError, fit_usl
from harness.workload import (
    MIX_DEFAULTS,
    MIX_SHARES,
    READ_SHARES,
    TRIVIAL,
    by_kind,
    describe_mix,
    endpoint_mix,
    mix_options,
    percentile_spectrum,
    phase_seed,
)

if TYPE_CHECKING:
    import psutil

    from harness.load.endpoints import Endpoint
    from harness.processes import ProcessGroup
    from harness.stack import Stack

__all__ = [
    "MIX_DEFAULTS",
    "MIX_SHARES",
    "READ_SHARES",
    "TRIVIAL",
    "Attached",
    "BackgroundPhase",
    "Bound",
    "FaultUnavailable",
    "MetricSpec",
    "Phase",
    "Probe",
    "SampledRun",
    "Scenario",
    "ScenarioContext",
    "ScenarioError",
    "ScenarioResult",
    "SearchConfig",
    "SearchResult",
    "StepOutcome",
    "TimeSeries",
    "UndeclaredMetric",
    "UslError",
    "Window",
    "by_kind",
    "cache_sim",
    "counterbalanced",
    "describe_mix",
    "endpoint_mix",
    "fit_usl",
    "latency_percentile_ms",
    "mix_options",
    "open_stream",
    "parse_metrics",
    "percentile_spectrum",
    "pg_bin_dir",
    "phase_seed",
    "profiling",
    "replay",
    "search",
    "send_lag_ms",
    "trend",
]

BackgroundPhase = LoadThread  # what ctx.background_phase returns: `.is_alive()`, then ctx.finish_phase(it)


class ScenarioError(RuntimeError):
    """The scenario could not measure what it measures; the message says why."""


class UndeclaredMetric(ScenarioError):
    """A scenario recorded (or published) a metric its `Scenario(metrics=...)` does not declare."""


@dataclass(frozen=True)
class MetricSpec:
    """A metric a scenario declares: its name, unit, which direction is better, the area that grades it
    (the rubric's area key, or the scenario's own area when no rubric rule grades it) and a one-line
    meaning (shown in docs and checked against them)."""

    name: str
    unit: str
    better: Better
    area: str
    meaning: str

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"metric name {self.name!r} must be an identifier (letters, digits, _)")
        if self.better not in DIRECTIONS:
            raise ValueError(f"{self.name}: better must be one of {DIRECTIONS}, not {self.better!r}")
        if not self.meaning.strip() or "\n" in self.meaning:
            raise ValueError(f"{self.name}: meaning must be one non-empty line")
        if not self.unit or not self.area:
            raise ValueError(f"{self.name}: unit and area are required")


def counterbalanced(modes: Sequence[str], repetitions: int) -> Iterator[tuple[int, str]]:
    """(repetition, mode) in A B, B A, A B ... order, so a drift of the machine favours neither mode."""
    for rep in range(repetitions):
        for mode in modes if rep % 2 == 0 else tuple(reversed(modes)):
            yield rep, mode


@dataclass(frozen=True)
class Attached:
    """A server attached to the run's database for a scenario (read replica, PgBouncer)."""

    dsn: str  # for the run's database
    ready_s: float = 0.0  # how long it took to be usable (a replica's catch-up)


@dataclass
class _Recorded:
    samples: list[float] = field(default_factory=list)
    bound: Bound = "exact"


@dataclass
class ScenarioContext:
    """What a scenario run gets from the harness: the only API a scenario uses (see the module docstring)."""

    profile: str
    out_dir: Path
    target_url: str
    stack: Stack | None = None
    endpoints: list[Endpoint] | None = None  # with --target: the user's endpoint list (TOML)
    locustfile: Path | None = None  # with --target: the user's locustfile
    target_pids: list[int] = field(default_factory=list)  # with --target: processes to sample, if given
    log: Callable[[str], None] = print
    progress: Callable[[str, float, float], None] | None = None
    result: ScenarioResult | None = None  # bound by Scenario.execute
    scenario: Scenario | None = None  # bound by Scenario.execute
    _recorded: dict[str, _Recorded] = field(default_factory=dict, init=False, repr=False)
    _sampled: SampledRun | None = field(default=None, init=False, repr=False)
    _overloaded: list[str] = field(default_factory=list, init=False, repr=False)

    # binding and recording -------------------------------------------------------------------------
    def bind(self, scenario: Scenario, result: ScenarioResult) -> None:
        """Attach the scenario's declarations and the result `record` publishes into."""
        self.scenario, self.result = scenario, result
        self._recorded = {}
        self._overloaded = []

    def _bound_result(self) -> tuple[Scenario, ScenarioResult]:
        if self.scenario is None or self.result is None:
            raise ScenarioError("this context is not bound to a scenario: run it with Scenario.execute")
        return self.scenario, self.result

    def record(self, metric: str, value: float | Sequence[float] | None, bound: Bound = "exact") -> None:
        """Append `value` (or each of a sequence) to `metric`'s samples and republish the metric."""
        scenario, result = self._bound_result()
        spec = scenario.metric(metric)
        if bound not in BOUNDS:
            raise ValueError(f"bound must be one of {BOUNDS}, not {bound!r}")
        values = [value] if value is None or isinstance(value, int | float) else list(value)
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if not finite:
            return
        entry = self._recorded.setdefault(metric, _Recorded())
        if bound != "exact":
            if entry.bound not in ("exact", bound):
                raise ValueError(f"{metric}: samples recorded both as {entry.bound} and as {bound}")
            entry.bound = bound
        entry.samples.extend(finite)
        result.metrics[metric] = _metric(entry.samples, spec, entry.bound)

    def samples(self, metric: str) -> list[float]:
        """The samples recorded so far for a declared metric."""
        scenario, _ = self._bound_result()
        scenario.metric(metric)
        return list(self._recorded.get(metric, _Recorded()).samples)

    def invalidate(self, reason: str) -> None:
        """Mark the run invalid (not graded), keeping earlier reasons."""
        _, result = self._bound_result()
        result.status = "invalid"
        result.reason = reason if not result.reason else f"{result.reason}; {reason}"

    # load phases -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def sampling(self, interval_s: float = 0.1) -> Iterator[SampledRun | None]:
        """Sample the service (or the `--target-pid` processes) alongside every load phase run inside."""
        sampler: Sampler | None
        if self.stack is not None:
            sampler = service_sampler(self.stack, interval_s)
        elif self.target_pids:
            import psutil

            try:
                sampler = Sampler({f"pid{pid}": psutil.Process(pid) for pid in self.target_pids}, interval_s)
            except psutil.Error as exc:
                raise ScenarioError(f"cannot sample --target-pid: {exc}") from exc
        else:
            sampler = None
        if sampler is None:
            yield None
            return
        with SampledRun(sampler) as sampled:
            self._sampled = sampled
            try:
                yield sampled
            finally:
                self._sampled = None

    def load_phase(
        self,
        plan: ClosedPlan | OpenPlan,
        endpoints: Sequence[Endpoint] | None = None,
        *,
        label: str,
        search_step: bool = False,
        **kwargs: Any,
    ) -> Phase:
        """Run one load phase against `target_url` and judge it (see the module docstring).

        `endpoints` default to the user's (`--endpoints`, `--locustfile` with `--target`); `kwargs` go to
        `harness.load.run_load` (`warmup_s`, `drain_s`, `cpu_affinity`, ...). `label` names the phase in
        reasons and its work directory under the artifacts.
        """
        kwargs.setdefault("work_dir", self.artifacts_dir / f"{self._prefix()}-{_slug(label)}")
        if endpoints is None:
            endpoints = self.endpoints or ()
            if self.locustfile is not None:
                kwargs.setdefault("locustfile", self.locustfile)
        if self._sampled is not None:
            load, window = self._sampled.load(self.target_url, plan, endpoints, **kwargs)
            return self._judge(label, load, window, search_step)
        from harness.load.runner import run_load

        return self._judge(
            label, run_load(self.target_url, plan, endpoints=endpoints, **kwargs), search_step=search_step
        )

    def background_phase(
        self, plan: ClosedPlan | OpenPlan, endpoints: Sequence[Endpoint], *, label: str, **kwargs: Any
    ) -> BackgroundPhase:
        """Start a load phase in a background thread (`.is_alive()`); `finish_phase` joins and judges it."""
        kwargs.setdefault("work_dir", self.artifacts_dir / f"{self._prefix()}-{_slug(label)}")
        thread = LoadThread(self.target_url, plan, endpoints=endpoints, **kwargs)
        thread.label = label  # type: ignore[attr-defined]
        thread.start()
        return thread

    def finish_phase(self, thread: BackgroundPhase) -> Phase:
        """Wait for a background phase and judge it; a phase that crashed is a ScenarioError."""
        try:
            load = thread.join_result()
        except RuntimeError as exc:
            raise ScenarioError(str(exc)) from exc
        return self._judge(getattr(thread, "label", "background"), load)

    def _judge(self, label: str, load: Any, window: Window | None = None, search_step: bool = False) -> Phase:
        phase = judge(label, load, window, self._sampled)
        if phase.fault and search_step:
            _, result = self._bound_result()
            result.details.setdefault("generator_limited", []).append(f"{label}: {phase.fault}")
        elif phase.fault:
            self.invalidate(f"{label}: {phase.fault}")
        elif phase.overloaded:
            _, result = self._bound_result()
            self._overloaded.append(f"{label}: {phase.overloaded}")
            result.details["overloaded"] = {"reasons": list(self._overloaded), "note": OVERLOADED_NOTE}
        return phase

    def _prefix(self) -> str:
        name = self.scenario.name if self.scenario is not None else "phase"
        return f"{name}-{self.profile}"

    def pinned(self, enabled: bool) -> contextlib.AbstractContextManager[AffinityPlan]:
        """Optionally pin the service to all CPUs but the last and the generator to the last."""
        return pinned(self.service_pid, enabled)

    def describe_machine(self, note: str, latency_basis: str | None = None) -> None:
        """Record where the phases ran (`details["machine"]`) and how latency was timed."""
        _, result = self._bound_result()
        result.details["machine"] = {"cpus": os.cpu_count(), "note": note}
        result.details["latency_basis"] = latency_basis or "closed model: uncorrected latency (no schedule)"

    # the service -----------------------------------------------------------------------------------
    def require_stack(self) -> Stack:
        if self.stack is None:
            raise ScenarioError("this scenario needs the stack athbench starts itself (not --target)")
        return self.stack

    def restart_service(
        self,
        env: Mapping[str, str] | None = None,
        *,
        profile: str | None = None,
        workers: int | None = None,
    ) -> None:
        """Restart the service (this context's profile unless `profile`; extra environment `env`; `workers`
        processes, default the stack's) and keep `target_url` in step."""
        stack = self.require_stack()
        stack.start_service(profile or self.profile, env, workers=workers)
        self.target_url = stack.service_url

    def service_processes(self) -> list[psutil.Process]:
        """The service process and its workers."""
        processes = self.require_stack().service_processes()
        if not processes:
            raise ScenarioError("the service is not running")
        return processes

    @property
    def service_pid(self) -> int:
        return self.service_processes()[0].pid

    def service_environment(self) -> dict[str, str]:
        """The environment (the whole configuration) the service gets under this profile."""
        return self.require_stack().service_environment(self.profile)

    def service_cpu_seconds(self) -> tuple[float, float]:
        """(CPU seconds run, seconds runnable but waiting for a CPU) of the service's threads so far; (0, 0)
        where schedstat is unavailable."""
        run = wait = 0.0
        for process in self.service_processes():
            try:
                r, w = schedstat_seconds(process.pid)
            except (OSError, ValueError, IndexError):
                continue
            run, wait = run + r, wait + w
        return run, wait

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_stack().admin_token}"}

    def flush_service_cache(self) -> None:
        """Empty the service's caches (`POST /admin/cache/flush`)."""
        response = httpx.post(f"{self.target_url}/admin/cache/flush", headers=self.admin_headers(), timeout=30)
        if response.status_code != 200:
            raise ScenarioError(f"could not flush the service's cache: {response.status_code} {response.text}")

    def scrape(self, client: httpx.Client | None = None, timeout_s: float = 5.0) -> prometheus.Scrape:
        """The service's Prometheus /metrics, parsed."""
        return prometheus.scrape(self.target_url, client=client, timeout_s=timeout_s)

    # the stack's servers ---------------------------------------------------------------------------
    @property
    def postgres_dsn(self) -> str:
        return self.require_stack().postgres_dsn

    @property
    def redis_url(self) -> str:
        return self.require_stack().redis_url

    @property
    def run_dir(self) -> Path:
        return self.require_stack().run_dir

    @property
    def process_group(self) -> ProcessGroup:
        return self.require_stack().group

    @property
    def embedded_postgres(self) -> Any:
        """The embedded PostgreSQL server (`harness.postgres.EmbeddedPostgres`), None when external."""
        return self.require_stack().embedded_postgres

    def flush_redis(self) -> bool:
        """FLUSHALL the embedded Redis; False (nothing done) when Redis is external."""
        stack = self.require_stack()
        if stack.embedded_redis is None:
            return False
        import redis

        client = redis.Redis.from_url(stack.redis_url, socket_timeout=5.0)
        try:
            client.flushall()
        finally:
            client.close()
        return True

    @contextlib.contextmanager
    def read_replica(self) -> Iterator[Attached]:
        """A streaming hot standby of the embedded PostgreSQL for the `with` block (stopped after): its DSN
        for the run's database and the seconds it took to catch up."""
        from harness.replica import EmbeddedReplica
        from harness.stack import DATABASE

        stack = self.require_stack()
        if stack.embedded_postgres is None:
            raise ScenarioError(
                "a read replica needs the embedded PostgreSQL (a replica of an external DSN is not made)"
            )
        data_dir = Path(tempfile.mkdtemp(prefix=f"replica-{self.profile}-", dir=stack.run_dir))
        replica = EmbeddedReplica(stack.embedded_postgres, data_dir, stack.group)
        replica.start()
        try:
            yield Attached(replica.dsn_for(DATABASE), replica.wait_caught_up(DATABASE))
        finally:
            replica.stop()

    @contextlib.contextmanager
    def pgbouncer(self, pool_size: int) -> Iterator[Attached]:
        """PgBouncer (transaction pooling, `pool_size` server connections) in front of the run's PostgreSQL
        for the `with` block: its DSN for the run's database. Needs the `pgbouncer` program."""
        from harness.pgbouncer import PgBouncer
        from harness.stack import DATABASE

        stack = self.require_stack()
        work_dir = Path(tempfile.mkdtemp(prefix=f"pgbouncer-{self.profile}-", dir=stack.run_dir))
        bouncer = PgBouncer(stack.postgres_dsn, work_dir, stack.group, pool_size=pool_size)
        try:
            bouncer.start()
        except RuntimeError as exc:
            raise ScenarioError(f"cannot start PgBouncer: {exc}") from exc
        try:
            yield Attached(bouncer.dsn_for(DATABASE))
        finally:
            bouncer.stop()

    # faults ----------------------------------------------------------------------------------------
    def pause_postgres(self) -> contextlib.AbstractContextManager[None]:
        """SIGSTOP the embedded PostgreSQL for the duration of the `with` block."""
        return faults.postgres_paused(self.require_stack())

    def stop_redis(self) -> contextlib.AbstractContextManager[None]:
        """Stop the embedded Redis for the duration of the `with` block."""
        return faults.redis_stopped(self.require_stack())

    def upstream_fault(self, **spec: Any) -> contextlib.AbstractContextManager[None]:
        """Make the market-data upstream slow (`latency_ms=`) or failing (`error_rate=`) inside the block."""
        return faults.upstream_fault(self.require_stack(), spec)

    # seeded data -----------------------------------------------------------------------------------
    @cached_property
    def data(self) -> SeededData:
        """Facts about the seeded database (counts, ids, slugs)."""
        stack = self.require_stack()
        return _CheckedData(stack.postgres_dsn, stack.seed_report)

    # artifacts -------------------------------------------------------------------------------------
    @property
    def artifacts_dir(self) -> Path:
        path = self.out_dir / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        return path


class _CheckedData(SeededData):
    """SeededData whose missing-data errors are ScenarioErrors (the run fails with the reason)."""

    def __getattribute__(self, name: str) -> Any:
        try:
            return super().__getattribute__(name)
        except SeededDataError as exc:
            raise ScenarioError(str(exc)) from exc


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in label).strip("-") or "phase"


def _metric(samples: list[float], spec: MetricSpec, bound: Bound) -> Metric:
    return Metric.from_samples(samples, unit=spec.unit, better=spec.better, bound=bound)


Runner = Callable[[ScenarioContext, dict[str, Any], ScenarioResult], None]


@dataclass(frozen=True)
class Scenario:
    """A measurement: `run(ctx, params, result)` records metrics through `ctx` and fills `result`'s
    `timeseries`, `details`, `artifacts`. `metrics` declares every metric it may publish (required)."""

    name: str
    description: str
    run: Runner
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_stack: bool = True
    area: str = ""
    metrics: tuple[MetricSpec, ...] = ()
    # expected wall seconds for these parameters, for progress only; None: `harness.eta.expected_seconds`
    estimate: Callable[[dict[str, Any]], float] | None = None

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError(f"scenario {self.name}: declare its metrics (Scenario(metrics=(MetricSpec(...), ...)))")
        names = [m.name for m in self.metrics]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"scenario {self.name}: metrics declared twice: {', '.join(duplicated)}")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def metric(self, name: str) -> MetricSpec:
        """The declaration of `name`; `UndeclaredMetric` (naming the declared ones) when there is none."""
        for spec in self.metrics:
            if spec.name == name:
                return spec
        raise UndeclaredMetric(
            f"{self.name}.{name} is not a declared metric of {self.name} (declared: {', '.join(self.metric_names)})"
        )

    def execute(self, ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
        """Bind `ctx` to this scenario and `result`, run, then reject any undeclared published metric."""
        ctx.bind(self, result)
        try:
            self.run(ctx, params, result)
        finally:
            undeclared = sorted(set(result.metrics) - set(self.metric_names))
            for name in undeclared:
                del result.metrics[name]
        if undeclared:
            raise UndeclaredMetric(f"{self.name} published undeclared metrics: {', '.join(undeclared)}")
