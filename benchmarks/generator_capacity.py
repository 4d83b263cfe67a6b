"""Load-generator capacity: the highest open-model rate 1 and N Locust workers sustain on a trivial endpoint.

The target is `tests.burn_server` with 0 ms of work per request (one asyncio thread answering "ok"), so the
generator is what runs out first where the machine has cores to spare: each worker count is searched with
the harness' own capacity search (`harness.capacity_search`, the same pass rule as the `capacity`
scenario: p95 within `--slo-ms`, errors within 1 %, throughput within 5 % of the offered rate, the phase
valid), rounds interleaved (1, N, 1, N ...). A search that ends because the generator saturated (its CPU,
event-loop lag or schedule lag: the phase's validity) reports `limited_by = "load generator"`: that rate is the
generator's capacity. One that ends at the server (`service`) or at `--max-rps` says the generator was not
the limit, and the scaling ratio is then not the generator's.

Issue 16's goal, 2 workers >= 1.8x one worker, needs at least 4 free cores (2 workers, the server and
the harness); the output records the machine's cores and load. On fewer the ratio measures the machine.

    python -m benchmarks.generator_capacity                 # 1 and 2 workers, 3 rounds
    python -m benchmarks.generator_capacity --workers 4 --rounds 6 --out gen.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.capacity_search import SearchConfig, StepOutcome, search
from harness.load.endpoints import Endpoint
from harness.load.plan import OpenPlan
from harness.load.runner import run_load
from harness.processes import free_port
from harness.stats import median_ci
from scenarios.capacity import step_outcome

REPO = Path(__file__).resolve().parents[1]


def search_rate(url: str, workers: int, config: SearchConfig) -> dict[str, Any]:
    """One capacity search of `workers` Locust workers against `url`."""

    def measure(rate: float, duration_s: float) -> StepOutcome:
        plan = OpenPlan.constant(rate, duration_s, users=max(50, int(rate / 20)))
        load = run_load(url, plan, endpoints=[Endpoint("/")], warmup_s=0.5, drain_s=1.0, workers=workers)
        return step_outcome(load, rate)

    found = search(measure, config)
    return {"workers": workers, "rate_rps": found.rate_rps, "limited_by": found.limited_by, "steps": len(found.steps)}


def summarize(rounds: list[dict[int, dict[str, Any]]], many: int) -> dict[str, Any]:
    """Per worker count the median rate and its interval; the per-round ratio N / 1 and its median."""
    summary: dict[str, Any] = {}
    for workers in (1, many):
        rates = [r[workers]["rate_rps"] for r in rounds if r[workers]["rate_rps"]]
        ci = median_ci(rates)
        summary[str(workers)] = {
            "rates": rates,
            "limited_by": [r[workers]["limited_by"] for r in rounds],
            "ci95": None if ci is None else [ci.low, ci.high],
            "note": None if ci is not None else f"n too small for an interval (n = {len(rates)})",
        }
    ratios = [r[many]["rate_rps"] / r[1]["rate_rps"] for r in rounds if r[1]["rate_rps"] and r[many]["rate_rps"]]
    ci = median_ci(ratios)
    summary["ratio"] = {
        "values": ratios,
        "ci95": None if ci is None else [ci.low, ci.high],
        "generator_limited": all(r[w]["limited_by"] == "load generator" for r in rounds for w in (1, many)),
    }
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generator_capacity", description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="the worker count compared with one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start-rps", type=float, default=1000.0)
    parser.add_argument("--max-rps", type=float, default=40000.0)
    parser.add_argument("--slo-ms", type=float, default=50.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.workers < 2 or args.rounds < 1:
        parser.error("--workers must be >= 2 and --rounds >= 1")
    config = SearchConfig(
        slo_p95_ms=args.slo_ms, start_rps=args.start_rps, max_rps=args.max_rps, resolution=0.1, min_requests=2000
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.burn_server", str(port), "0"], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
        url = f"http://127.0.0.1:{port}"
        rounds = []
        for i in range(args.rounds):
            done = {w: search_rate(url, w, config) for w in (1, args.workers)}
            print(f"round {i + 1}: " + ", ".join(f"{w} worker(s) {d['rate_rps']} req/s ({d['limited_by']})"
                                                 for w, d in done.items()), flush=True)  # fmt: skip
            rounds.append(done)
    finally:
        server.kill()
        server.wait()
    result = {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "rounds": [{str(w): d for w, d in r.items()} for r in rounds],
        "summary": summarize(rounds, args.workers),
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
