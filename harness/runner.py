"""Running a pack: one stack, each scenario under each profile, results saved after every scenario.

Progress: before each (scenario, profile) the runner reports scenario i of n with the pack's ETA
(`harness.eta`) to `harness.progress`; the command that called it chooses how that is shown.

Order is scenario-major, profile-minor (api_latency/baseline, api_latency/optimized, cache/baseline, ...),
so the two profiles of one scenario are measured minutes apart on the same machine and the same database.
The service is restarted fresh for every (scenario, profile). On Ctrl-C or an error, every process is
stopped, the scenario in progress is kept and marked incomplete, and the run is marked incomplete.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import results as results_io
from harness.eta import expected_seconds, remaining_s
from harness.load.endpoints import Endpoint
from harness.packs import Pack, PackEntry
from harness.progress import PACK, Update, report
from harness.results import RunResults, ScenarioResult, utc_now
from harness.stack import Stack, StackConfig
from scenarios.base import ScenarioContext, ScenarioError

Log = Callable[[str], None]


@dataclass
class RunOptions:
    """How to run a pack: profiles, where to write, which servers, or an external target."""

    profiles: Sequence[str] = ("optimized",)
    output: Path = Path("athbench-out")
    stack_config: dict[str, Any] = field(default_factory=dict)
    target_url: str | None = None
    only: Sequence[str] | None = None
    log: Log = print
    seed_progress: Callable[[int, int], None] | None = None
    profile_s: float | None = None  # py-spy the service for this long at the start of every scenario run
    endpoints: list[Endpoint] | None = None  # with target_url: the user's endpoint list
    locustfile: Path | None = None  # with target_url: the user's locustfile
    target_pids: Sequence[int] = ()  # with target_url: processes to sample


def new_run_dir(output: Path, pack_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(output) / f"{stamp}-{pack_name}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(output) / f"{stamp}-{pack_name}-{suffix}"
    path.mkdir(parents=True)
    return path


def _environment(stack: Stack | None, profiles: Sequence[str]) -> dict[str, Any]:
    from harness.environment import capture

    env = capture()
    env["profiles"] = list(profiles)
    if stack is not None:
        env["stack"] = stack.describe()
        env["stack_startup_s"] = {k: round(v, 3) for k, v in stack.startup_seconds.items()}
        from harness.seeded import SeededData

        data = SeededData(stack.postgres_dsn, stack.seed_report)
        env["database"] = {
            "properties": data.properties,  # what the scenarios' requests draw from
            "users": data.users,
            "seed_properties_requested": stack.config.seed_properties,
            # the seed's report (with its seconds), None when the database was seeded before this run
            "seeded_now": stack.seed_report.as_dict() if stack.seed_report is not None else None,
        }
    return env


def run_pack(pack: Pack, options: RunOptions) -> tuple[RunResults, Path]:
    """Run every scenario of `pack` under every profile; return the results and the run directory."""
    run_dir = new_run_dir(options.output, pack.name)
    results = RunResults(run_id=run_dir.name, pack=pack.name, targets=dict(pack.targets))
    results_path = run_dir / "results.json"
    entries = [e for e in pack.entries if not options.only or e.scenario.name in options.only]
    if options.target_url:
        skipped = [e.scenario.name for e in entries if e.scenario.needs_stack]
        if skipped:
            options.log(f"skipping scenarios that need athbench's own stack: {', '.join(skipped)}")
        entries = [e for e in entries if not e.scenario.needs_stack]
    stack: Stack | None = None
    current: ScenarioResult | None = None
    try:
        if options.target_url is None:
            stack_config = dict(options.stack_config)
            if pack.seed_properties is not None:
                stack_config.setdefault("seed_properties", pack.seed_properties)
            config = StackConfig.from_env(run_dir / "stack", profile=options.profiles[0], **stack_config)
            stack = Stack(config, seed_progress=options.seed_progress)
            stack.start()
        results.environment = _environment(stack, options.profiles)
        results.environment["plan_target"] = dict(pack.plan)  # the pack's [plan] (reports.capacity_plan)
        if options.target_url:
            results.environment["target"] = {"url": options.target_url, "pids": list(options.target_pids)}
        results_io.save(results, results_path)
        runs = [(entry, profile) for entry in entries for profile in options.profiles]
        expected = [(entry.scenario.estimate or expected_seconds)(entry.params) for entry, _ in runs]
        t0 = time.monotonic()
        for i, (entry, profile) in enumerate(runs):
            label = f"[{i + 1}/{len(runs)}] {entry.scenario.name}/{profile}"
            eta = remaining_s(expected, i, time.monotonic() - t0)
            report(Update(PACK, label, float(i), float(len(runs)), unit="scenarios", eta_s=eta))
            current = ScenarioResult(name=entry.scenario.name, profile=profile, params=dict(entry.params))
            results.scenarios.append(current)
            _run_one(entry, profile, stack, options, run_dir, current)
            results_io.save(results, results_path)
            current = None
        # An invalid scenario run (generator saturated or behind schedule) is kept but not graded; the
        # rest of the run still is. The run itself is complete: nothing was interrupted.
        results.status = "complete"
        bad = [f"{s.name}/{s.profile}: {s.reason}" for s in results.scenarios if s.status == "invalid"]
        if bad:
            results.status_reason = "invalid scenario runs, not graded: " + "; ".join(bad)
        if any(s.status == "failed" for s in results.scenarios):
            failed = [f"{s.name}/{s.profile}" for s in results.scenarios if s.status == "failed"]
            results.status = "incomplete"
            results.status_reason = "failed scenarios: " + ", ".join(failed)
    except KeyboardInterrupt:
        _mark_interrupted(results, current, "interrupted (Ctrl-C or SIGTERM)")
        raise
    except BaseException as exc:
        _mark_interrupted(results, current, f"run failed: {type(exc).__name__}: {exc}")
        raise
    finally:
        report(Update(PACK, pack.name, 0.0, finished=True))
        if stack is not None:
            stack.stop()
        results.finished_at = utc_now()
        results_io.save(results, results_path)
    return results, run_dir


def _mark_interrupted(results: RunResults, current: ScenarioResult | None, reason: str) -> None:
    results.status = "incomplete"
    results.status_reason = reason
    if current is not None and current.status == "complete":
        current.status = "incomplete"
        current.reason = reason
        current.finished_at = utc_now()


def _run_one(
    entry: PackEntry, profile: str, stack: Stack | None, options: RunOptions, run_dir: Path, result: ScenarioResult
) -> None:
    name = entry.scenario.name
    options.log(f"[{name} / {profile}] {entry.scenario.description}")
    t0 = time.perf_counter()
    try:
        if stack is not None:
            stack.start_service(profile)
        ctx = ScenarioContext(
            profile=profile,
            out_dir=run_dir,
            target_url=stack.service_url if stack is not None else str(options.target_url),
            stack=stack,
            endpoints=options.endpoints,
            locustfile=options.locustfile,
            target_pids=list(options.target_pids),
            log=lambda msg: options.log(f"  {msg}"),
        )
        background = None
        if options.profile_s and stack is not None and stack.service is not None:
            from harness.profiling import BackgroundProfile

            background = BackgroundProfile(stack.service.pid, options.profile_s, ctx.artifacts_dir, f"{name}-{profile}")
        entry.scenario.execute(ctx, dict(entry.params), result)
        if background is not None:
            background.finish(result, run_dir)
    except ScenarioError as exc:
        result.status = "failed"
        result.reason = str(exc)
        options.log(f"  failed: {exc}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a scenario bug must not lose the rest of the run
        result.status = "failed"
        result.reason = f"{type(exc).__name__}: {exc}"
        result.details["traceback"] = traceback.format_exc(limit=8)
        options.log(f"  failed: {result.reason}")
    result.finished_at = utc_now()
    result.details.setdefault("wall_s", round(time.perf_counter() - t0, 2))
