"""The miss path: the energy-assessment endpoint on uniformly random ids, three arms measured in one run.

Arms, measured interleaved (optimized, baseline, minimal, then again, `--rounds` times), each at its
maximum closed-model throughput (`--users` users, no think time) on uniformly random property ids over
all `--properties` seeded ones (a request template, `harness.load`). Throughput counts successful answers
only (a shed request, 503, is not served):

- `optimized`: the service in the optimized profile (restarted for the round, Redis flushed: cold tiers);
- `baseline`: the service in the baseline profile (restarted for the round);
- `minimal`: `benchmarks.minimal_app`, Starlette + asyncpg doing the same primary-key read (a separate
  uvicorn process).

One server process is pinned to one CPU and the load generator to another (`harness.affinity`); PostgreSQL
and Redis are not pinned. Both profiles run with the same long health interval (`Config.health_interval_s`), so
what is compared is the request path, not the health loop. Each round gives the ratios optimized/minimal
and optimized/baseline (same round, same machine conditions); their medians get the distribution-free
95 % interval of `harness.stats.median_ci`, which exists from 6 rounds on ("n too small" below). The
X-Cache hit ratio of each service arm shows that the miss path was measured (about 0 at 1,000,000 ids).
The machine's load average is recorded at each round: on a shared machine it says how far to trust
absolute figures; the ratios are measured side by side.

    python -m benchmarks.miss_path                         # 1,000,000 properties, 6 rounds (~10 min)
    python -m benchmarks.miss_path --quick                 # a few thousand properties, 2 short rounds
    python -m benchmarks.miss_path --profile-s 15          # also py-spy each arm under load
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import psutil
import redis

try:  # asv imports every module under benchmarks/, also on commits older than these modules
    from harness.affinity import AffinityPlan, pin_process_tree
    from harness.load import ClosedPlan, Endpoint, LoadResult, run_load
    from harness.processes import Child, free_port, wait_for_port
    from harness.stack import Stack, StackConfig
    from harness.stats import median, median_ci

    MISSING: ImportError | None = None
except ImportError as exc:
    MISSING = exc

ARMS = ("optimized", "baseline", "minimal")
#: Where a profiled arm's CPU went, by the file of the frame running (first match wins).
LAYERS = (
    ("domain model", ("system_under_test/domain/",)),
    ("cache tiers", ("system_under_test/cache/",)),
    ("resilience policy", ("system_under_test/resilience/",)),
    ("service middlewares", ("system_under_test/metrics.py", "system_under_test/limits.py", "prometheus_client/")),
    ("handlers", ("system_under_test/", "benchmarks/minimal_app.py")),
    ("asyncpg", ("asyncpg/",)),
    ("redis client", ("redis/",)),
    ("pydantic / json", ("pydantic", "/json/")),
    ("fastapi", ("fastapi/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn", ("uvicorn/", "httptools")),
    ("asyncio", ("asyncio/",)),
)
PATH = "/api/v1/properties/{id}/energy-assessment"
RATIOS = (("optimized", "minimal"), ("optimized", "baseline"))


@dataclass(frozen=True)
class Config:
    """What to measure: database size, rounds, and each load phase's shape."""

    properties: int = 1_000_000
    rounds: int = 6
    duration_s: float = 10.0
    warmup_s: float = 2.0
    users: int = 32  # within the service's PostgreSQL bulkhead (pool 10 + queue 40): no request is shed
    health_interval_s: float = 3600.0
    profile_s: float = 0.0  # > 0: py-spy each arm for this long after the rounds
    seed: int = 1


QUICK = Config(properties=3_000, rounds=2, duration_s=1.5, warmup_s=0.5, users=16)


def endpoint(properties: int) -> Endpoint:
    """The energy-assessment endpoint over uniformly random ids 1..properties."""
    return Endpoint(
        path=PATH, name="energy_assessment", params={"id": {"dist": "uniform", "min": 1, "max": properties}}
    )


def layer_of(file: str) -> str:
    """The `LAYERS` name of a source file, or "other"."""
    return next((name for name, needles in LAYERS if any(n in file for n in needles)), "other")


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


class Arms:
    """The stack (service in either profile) and the minimal app, started once; `target(arm)` readies one
    arm for a phase and returns its URL and server PID."""

    def __init__(self, stack: Stack, config: Config, affinity: AffinityPlan) -> None:
        self.stack = stack
        self.config = config
        self.affinity = affinity
        self.minimal_url, self.minimal = self._start_minimal()

    def _start_minimal(self) -> tuple[str, Child]:
        port = free_port()
        argv = [
            sys.executable, "-m", "uvicorn", "benchmarks.minimal_app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "MINIMAL_POSTGRES_DSN": self.stack.postgres_dsn, "PYTHONUNBUFFERED": "1"}
        child = self.stack.group.start("minimal", argv, env=env)
        wait_for_port(port, timeout=30, proc=child)
        self._pin(child.pid)
        return f"http://127.0.0.1:{port}", child

    def _pin(self, pid: int) -> None:
        if self.affinity.service is not None:
            pin_process_tree(pid, self.affinity.service)

    def target(self, arm: str) -> tuple[str, int]:
        if arm == "minimal":
            return self.minimal_url, self.minimal.pid
        with redis.Redis.from_url(self.stack.redis_url) as client:
            client.flushdb()  # L2 keeps no id an earlier round loaded
        self.stack.start_service(profile=arm)
        assert self.stack.service is not None
        self._pin(self.stack.service.pid)
        return self.stack.service_url, self.stack.service.pid


def measure(arms: Arms, arm: str, config: Config, seed: int, work_dir: Path) -> dict[str, Any]:
    """One closed-model phase at `arm`; its throughput, errors, hit ratio, validity and the load average."""
    url, pid = arms.target(arm)
    before = load_average()
    server = psutil.Process(pid)
    cpu0, t0 = server.cpu_times(), time.monotonic()
    result: LoadResult = run_load(
        url,
        ClosedPlan(users=config.users, duration_s=config.duration_s),
        endpoints=[endpoint(config.properties)],
        warmup_s=config.warmup_s,
        cpu_affinity=arms.affinity.generator,
        work_dir=work_dir,
        seed=seed,
    )
    cpu1, elapsed = server.cpu_times(), time.monotonic() - t0
    overall = result.overall
    return {
        "arm": arm,
        "rps": round(overall.throughput_rps * (1.0 - overall.error_rate), 1),  # successful answers only
        "count": overall.count,
        "errors": overall.error_count,
        "p50_ms": overall.latency_ms("p50") if overall.count else None,
        "hit_ratio": overall.cache_hit_ratio,
        "valid": result.valid,
        "invalid_reason": result.invalid_reason,
        "limited_by": result.validity.get("limited_by"),
        "generator_cpu_percent": result.validity.get("generator_cpu_percent_mean"),
        "server_cpu_percent": round(100 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed, 1),
        "load_average": [before, load_average()],
    }


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per arm: the req/s of each round, their median and its interval; per ratio: the same, paired by round."""
    out: dict[str, Any] = {"n": len(rounds), "arms": {}, "ratios": {}}
    for arm in ARMS:
        out["arms"][arm] = _summary([r[arm]["rps"] for r in rounds])
    for top, bottom in RATIOS:
        values = [r[top]["rps"] / r[bottom]["rps"] for r in rounds if r[bottom]["rps"] > 0]
        out["ratios"][f"{top}/{bottom}"] = _summary(values, digits=3)
    return out


def _summary(values: list[float], digits: int = 1) -> dict[str, Any]:
    ci = median_ci(values)
    return {
        "values": [round(v, digits) for v in values],
        "n": len(values),
        "median": round(median(values), digits) if values else None,
        "ci95": [round(ci.low, digits), round(ci.high, digits)] if ci is not None else None,
        "ci_coverage": round(ci.coverage, 3) if ci is not None else None,
        "note": None if ci is not None else "n too small for a 95 % interval (needs 6 rounds)",
    }


def run(config: Config, run_dir: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the stack with `config.properties` properties, measure the arms interleaved, return the summary."""
    try:
        affinity = AffinityPlan.split()
    except ValueError as exc:
        log(f"not pinned: {exc}")
        affinity = AffinityPlan.none()
    stack_config = StackConfig(
        run_dir=run_dir,
        profile="optimized",
        seed_properties=config.properties,
        upstream=False,
        health_interval=config.health_interval_s,
    )
    started = time.time()
    rounds: list[dict[str, dict[str, Any]]] = []
    profiles: dict[str, Any] = {}
    with Stack(stack_config) as stack:
        log(f"stack up in {time.time() - started:.0f} s ({config.properties} properties); load {load_average()}")
        arms = Arms(stack, config, affinity)
        for n in range(config.rounds):
            row = {}
            for i, arm in enumerate(ARMS):
                row[arm] = measure(arms, arm, config, config.seed + 10 * n + i, run_dir / f"load-{n}-{arm}")
                m = row[arm]
                log(f"round {n + 1} {arm}: {m['rps']} req/s, p50 {m['p50_ms']} ms, errors {m['errors']}, "
                    f"hit ratio {m['hit_ratio']}, server CPU {m['server_cpu_percent']} %, "
                    f"generator CPU {m['generator_cpu_percent']} %, load {m['load_average'][1]}")  # fmt: skip
            rounds.append(row)
        if config.profile_s > 0:
            profiles = {arm: profile_arm(arms, arm, config, run_dir) for arm in ARMS}
    summary = summarize(rounds)
    return {
        "config": asdict(config),
        "affinity": affinity.to_dict(),
        "cpu_count": os.cpu_count(),
        "rounds": rounds,
        "summary": summary,
        "profiles": profiles,
    }


def profile_arm(arms: Arms, arm: str, config: Config, run_dir: Path) -> dict[str, Any]:
    """py-spy one arm under the same load; its hottest frames (share of busy samples)."""
    from harness.profiling import BackgroundProfile, busy_by_group, hot_frames
    from harness.results import ScenarioResult

    url, pid = arms.target(arm)
    recorder = BackgroundProfile(pid, config.profile_s, run_dir / "profile", f"{arm}-miss-path")
    time.sleep(0.5)
    run_load(
        url,
        ClosedPlan(users=config.users, duration_s=config.profile_s + 1.0),
        endpoints=[endpoint(config.properties)],
        warmup_s=0.5,
        cpu_affinity=arms.affinity.generator,
        work_dir=run_dir / f"load-profile-{arm}",
        seed=config.seed - 1,
    )
    result = ScenarioResult(name="miss_path", profile=arm)
    recorder.finish(result, run_dir)
    speedscope = result.artifacts.get("speedscope")
    frames = hot_frames(run_dir / speedscope, limit=40) if speedscope else []
    busy, layers = busy_by_group(run_dir / speedscope, layer_of) if speedscope else (0, {})
    return {
        "artifacts": result.artifacts,
        "error": result.details.get("profile_error"),
        "hot_frames": [f.to_dict() for f in frames],
        "busy_samples": busy,
        "busy_by_layer": {name: round(share, 4) for name, share in layers.items()},
    }


def report(results: dict[str, Any]) -> str:
    """The figures as text: req/s per arm and the ratios, each with n and its interval or "n too small"."""
    summary = results["summary"]
    lines = [f"miss path, {results['config']['properties']} properties, n = {summary['n']} interleaved rounds"]
    for name, s in [*summary["arms"].items(), *summary["ratios"].items()]:
        interval = f"CI95 {s['ci95'][0]}-{s['ci95'][1]}" if s["ci95"] else s["note"]
        lines.append(f"  {name:<20} median {s['median']} (rounds {s['values']}), {interval}")
    loads = [r[arm]["load_average"][1][0] for r in results["rounds"] for arm in ARMS]
    lines.append(f"  load average (1 min) over the phases: {min(loads)}-{max(loads)} on {results['cpu_count']} CPUs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.miss_path", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few properties, 2 short rounds (for tests)")
    parser.add_argument("--properties", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float, dest="duration_s")
    parser.add_argument("--warmup", type=float, dest="warmup_s")
    parser.add_argument("--users", type=int)
    parser.add_argument("--profile-s", type=float, dest="profile_s", help="py-spy each arm this long")
    parser.add_argument("--out", type=Path, help="write the full results as JSON here")
    parser.add_argument("--run-dir", type=Path, help="keep logs and load files here (default: a temp dir)")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else Config()
    overrides = {k: v for k in ("properties", "rounds", "duration_s", "warmup_s", "users", "profile_s")
                 if (v := getattr(args, k)) is not None}  # fmt: skip
    config = replace(config, **overrides)
    with tempfile.TemporaryDirectory(prefix="athbench-miss-path-") as tmp:
        results = run(config, args.run_dir or Path(tmp), log=lambda m: print(m, flush=True))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(report(results))
    profiles = results["profiles"]
    if profiles:
        print("  busy CPU by layer (self time, share of each arm's busy samples):")
        print("  " + f"{'layer':<20}" + "".join(f"{arm:>11}" for arm in profiles))
        for name in [*(n for n, _ in LAYERS), "other"]:
            shares = [p["busy_by_layer"].get(name, 0.0) for p in profiles.values()]
            print("  " + f"{name:<20}" + "".join(f"{share:>11.1%}" for share in shares))
        print("  " + f"{'busy samples':<20}" + "".join(f"{p['busy_samples']:>11}" for p in profiles.values()))
    for arm, profile in profiles.items():
        print(f"  {arm} profile: {profile['error'] or profile['artifacts']}")
        for frame in profile["hot_frames"][:25]:
            print(f"  {frame['total_fraction']:6.1%} total {frame['self_fraction']:6.1%} self  "
                  f"{frame['function']} ({frame['file']}:{frame['line']})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
