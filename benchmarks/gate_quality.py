"""Measured quality of `athbench gate`: false-positive rate (A/A) and detection rate (10 % slower, A/B).

Everything goes through the real pipeline: a loopback HTTP server whose service time per request is
drawn from a fixed log-normal distribution (median `--service-ms`, sigma `--sigma`) and multiplied by
(1 + slowdown) on the slowed side; Locust load phases through `harness.load.run_load` (closed model,
HdrHistogram); each phase written as a results file (`harness.results.save`), read back (`read`) and gated
as `athbench gate --baseline A1 --baseline A2 ... --candidate B1 ...` does: `harness.gate.decide` on
the runs of each side, every directional metric (p50, p95, p99 latency, throughput) under Holm, default
threshold (x1.05) and alpha (0.05).

One real trial runs three arms, `--runs` load phases each, interleaved with the order rotated every round
(A A' B, A' B A, B A A'): A/A gates A' against A (a REGRESSION exit is a false positive), A/B gates B
(10 % slower) against A (a REGRESSION exit with the median among the regressed metrics is a detection).

Bounding a false-positive rate of 1 % needs about 370 clean trials; real ones cost a minute each here,
so the bulk is simulated from the noise model the real trials measured: each simulated run is a
resampled vector of per-run residuals (log scale, all four metrics together, so their correlation and
tails are kept) around the clean mean, plus, for the slowed side, the per-metric shift the real A/B
trials measured. Simulated and real figures are reported apart, each with its trial count and exact
(Clopper-Pearson) 95 % interval.

    python -m benchmarks.gate_quality --quick                       # 1 real trial, for tests
    python -m benchmarks.gate_quality --trials 100 --out gate-quality.json   # the figures (about 100 min)
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import typer
from scipy.stats import binomtest

from benchmarks import skip_if_missing

try:  # asv imports every module under benchmarks/, also on commits older than these modules
    from harness.compare import CompareSettings, Verdict
    from harness.environment import capture as capture_environment
    from harness.gate import GateDecision, GateOutcome, decide
    from harness.load import ClosedPlan, Endpoint, run_load
    from harness.results import Metric, RunResults, ScenarioResult, read, save

    MISSING: ImportError | None = None
except ImportError as exc:
    MISSING = exc

SCENARIO = "gate_probe"
LATENCIES = ("p50", "p95", "p99")
METRICS = (*(f"latency_{p}_ms" for p in LATENCIES), "throughput_rps")
MEDIAN = "latency_p50_ms"
ARMS = ("A", "A2", "B")  # A2: a second clean arm (A/A); B: slowed (A/B)


@dataclass(frozen=True)
class Config:
    """One evaluation: real trials, runs per side, load phase shape, service time model, simulations."""

    trials: int = 100
    runs: int = 6
    simulated: int = 2000
    slowdown: float = 0.10
    service_ms: float = 20.0
    sigma: float = 0.3
    users: int = 2
    duration_s: float = 1.0
    warmup_s: float = 0.3
    seed: int = 0


QUICK = Config(trials=1, runs=3, simulated=200, duration_s=0.5, warmup_s=0.2)


class ServiceTimeServer:
    """A loopback HTTP/1.1 server: each request sleeps a log-normal service time x (1 + slowdown)."""

    def __init__(self, median_ms: float, sigma: float, seed: int) -> None:
        self.slowdown = 0.0
        rng, lock = random.Random(seed), threading.Lock()
        mu = math.log(median_ms / 1000.0)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                with lock:
                    service_s = rng.lognormvariate(mu, sigma) * (1.0 + owner.slowdown)
                time.sleep(service_s)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[ServiceTimeServer]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def measure_run(server: ServiceTimeServer, arm: str, slowdown: float, config: Config, out_dir: Path) -> Path:
    """One load phase against the server, written as a results file; returns its path."""
    server.slowdown = slowdown
    load = run_load(
        server.url,
        ClosedPlan(users=config.users, duration_s=config.duration_s),
        endpoints=[Endpoint("/work", name="work")],
        warmup_s=config.warmup_s,
        drain_s=1.0,
    )
    bound = "at_least" if getattr(load, "lower_bound", False) else "exact"
    metrics = {
        f"latency_{p}_ms": Metric.from_samples([load.overall.latency_ms(p) or math.nan], "ms", "lower", bound)
        for p in LATENCIES
    }
    metrics["throughput_rps"] = Metric.from_samples([load.overall.throughput_rps], "req/s", "higher")
    scenario = ScenarioResult(
        name=SCENARIO,
        profile="",
        status="complete" if load.valid else "invalid",
        reason=load.invalid_reason,
        params={"arm": arm, "slowdown": slowdown, **asdict(config)},
        metrics=metrics,
    )
    run_id = f"{arm}-{time.time_ns()}"
    status = "complete" if load.valid else "incomplete"
    run = RunResults(run_id=run_id, pack="gate_quality", status=status, scenarios=[scenario])
    return save(run, out_dir / arm / run_id / "results.json")


def real_trial(server: ServiceTimeServer, config: Config, index: int, out_dir: Path) -> dict[str, list[RunResults]]:
    """Runs of the three arms, interleaved with the order rotated each round, read back from their files."""
    paths: dict[str, list[Path]] = {arm: [] for arm in ARMS}
    for round_ in range(config.runs):
        shift = (index * config.runs + round_) % len(ARMS)
        for arm in ARMS[shift:] + ARMS[:shift]:
            slowdown = config.slowdown if arm == "B" else 0.0
            paths[arm].append(measure_run(server, arm, slowdown, config, out_dir / f"trial-{index:03d}"))
    return {arm: [read(p) for p in files] for arm, files in paths.items()}


def _detected(decision: GateDecision) -> bool:
    """A REGRESSION exit with the median latency among the regressed metrics."""
    return decision.outcome is GateOutcome.REGRESSION and any(
        c.metric == MEDIAN and c.verdict is Verdict.REGRESSION for c in decision.comparisons
    )


def _log_vectors(runs: list[RunResults]) -> np.ndarray:
    """Rows: runs; columns: log of each metric's value (the run's median)."""
    return np.array([[math.log(r.scenarios[0].metrics[m].median) for m in METRICS] for r in runs])


def _synthetic(prefix: str, vector: np.ndarray) -> RunResults:
    metrics = {
        m: Metric.from_samples([math.exp(v)], "req/s" if m == "throughput_rps" else "ms", better)
        for m, v, better in zip(METRICS, vector, ("lower",) * 3 + ("higher",), strict=True)
    }
    scenario = ScenarioResult(name=SCENARIO, profile="", metrics=metrics)
    return RunResults(run_id=prefix, pack="gate_quality-simulated", status="complete", scenarios=[scenario])


def simulate(residuals: np.ndarray, shift: np.ndarray, config: Config, settings: CompareSettings) -> dict[str, list]:
    """Simulated A/A and A/B gates from resampled run residuals (log scale) and the measured A/B shift."""
    rng = np.random.default_rng(config.seed)
    outcomes: dict[str, list] = {"aa": [], "ab": [], "ab_detected": []}
    for _ in range(config.simulated):
        draw = residuals[rng.integers(0, len(residuals), size=(3, config.runs))]
        side = [[_synthetic(f"{arm}{i}", v) for i, v in enumerate(rows)] for arm, rows in zip(ARMS, draw, strict=True)]
        outcomes["aa"].append(decide(side[0], side[1], settings).outcome.name)
        slowed = [_synthetic(f"B{i}", v + shift) for i, v in enumerate(draw[2])]
        ab = decide(side[0], slowed, settings)
        outcomes["ab"].append(ab.outcome.name)
        outcomes["ab_detected"].append(_detected(ab))
    return outcomes


def _rate(successes: int, trials: int) -> dict[str, float | int | list[float]]:
    if trials == 0:
        return {"k": 0, "n": 0}
    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="exact")
    return {"k": successes, "n": trials, "rate": successes / trials, "ci95": [ci.low, ci.high]}


def evaluate(config: Config, out_dir: Path, log: Callable[[str], object] = print) -> dict:
    """Run the real trials, fit the noise model, simulate, and return the summary."""
    settings = CompareSettings()
    started, load_start = time.time(), os.getloadavg()
    server = ServiceTimeServer(config.service_ms, config.sigma, config.seed)
    real: dict[str, list] = {"aa": [], "ab": [], "ab_detected": [], "ratio_ab_median": [], "ratio_aa_median": []}
    clean_residuals, shifts = [], []
    with server.running():
        for index in range(config.trials):
            runs = real_trial(server, config, index, out_dir)
            aa, ab = decide(runs["A"], runs["A2"], settings), decide(runs["A"], runs["B"], settings)
            real["aa"].append(aa.outcome.name)
            real["ab"].append(ab.outcome.name)
            real["ab_detected"].append(_detected(ab))
            logs = {arm: _log_vectors(r) for arm, r in runs.items()}
            clean = np.vstack([logs["A"], logs["A2"]])
            clean_residuals.append(clean - clean.mean(axis=0))
            shifts.append(logs["B"].mean(axis=0) - clean.mean(axis=0))
            real["ratio_aa_median"].append(math.exp(logs["A2"][:, 0].mean() - logs["A"][:, 0].mean()))
            real["ratio_ab_median"].append(math.exp(shifts[-1][0]))
            log(
                f"trial {index + 1}/{config.trials}: A/A {aa.outcome.name}, A/B {ab.outcome.name}"
                f"{' (median detected)' if real['ab_detected'][-1] else ''}; "
                f"B/A median x{real['ratio_ab_median'][-1]:.3f}"
            )
    residuals = np.vstack(clean_residuals)
    n_clean = 2 * config.runs
    residuals *= math.sqrt(n_clean / (n_clean - 1))  # deviations from a mean of n shrink by sqrt((n-1)/n)
    shift = np.median(np.array(shifts), axis=0)
    sim = simulate(residuals, shift, config, settings)
    real_seconds = time.time() - started

    def summary_of(outcomes: dict[str, list]) -> dict:
        n = len(outcomes["aa"])
        return {
            "false_positive": _rate(outcomes["aa"].count("REGRESSION"), n),
            "detection_median": _rate(sum(outcomes["ab_detected"]), n),
            "outcomes_aa": dict(Counter(outcomes["aa"])),
            "outcomes_ab": dict(Counter(outcomes["ab"])),
        }

    return {
        "config": asdict(config),
        "gate": {"threshold": settings.threshold, "alpha": settings.alpha, "metrics": list(METRICS), "holm": True},
        "real": {
            **summary_of(real),
            "median_ratio_aa": statistics.median(real["ratio_aa_median"]),
            "median_ratio_ab": statistics.median(real["ratio_ab_median"]),
        },
        "simulated": {
            **summary_of(sim),
            "model": "resampled per-run log residuals of the real clean runs, scaled by sqrt(n/(n-1)); "
            "slowed side shifted by the median real A/B shift per metric",
            "run_noise_sd_log": dict(zip(METRICS, residuals.std(axis=0, ddof=1).round(4).tolist(), strict=True)),
            "shift_log": dict(zip(METRICS, shift.round(4).tolist(), strict=True)),
        },
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "duration_s": round(real_seconds, 1),
        "environment": capture_environment(),
    }


def _line(label: str, part: dict) -> str:
    fp, det = part["false_positive"], part["detection_median"]
    return (
        f"{label}: A/A false positives {fp['k']}/{fp['n']} = {fp['rate']:.1%} "
        f"(95 % CI {fp['ci95'][0]:.1%}-{fp['ci95'][1]:.1%}); median-slowdown detections {det['k']}/{det['n']} = "
        f"{det['rate']:.1%} (95 % CI {det['ci95'][0]:.1%}-{det['ci95'][1]:.1%}); "
        f"A/A {part['outcomes_aa']}, A/B {part['outcomes_ab']}"
    )


def main(
    quick: bool = typer.Option(False, help="One real trial of 3 runs a side and 200 simulated (for tests)."),
    trials: int = typer.Option(Config.trials, min=1, help="Real trials (each: A/A and A/B)."),
    runs: int = typer.Option(Config.runs, min=2, help="Load phases (runs) per side of one gate."),
    simulated: int = typer.Option(Config.simulated, min=0, help="Simulated trials from the measured noise."),
    duration: float = typer.Option(Config.duration_s, help="Measured seconds of each load phase."),
    service_ms: float = typer.Option(Config.service_ms, help="Median service time of the loopback server."),
    out: Path | None = typer.Option(None, help="Write the summary as JSON here."),
    keep: Path | None = typer.Option(None, help="Keep the results files here (default: a temporary directory)."),
) -> None:
    """Run A/A and A/B gates through the real pipeline and report false-positive and detection rates."""
    skip_if_missing(MISSING)
    config = (
        QUICK
        if quick
        else Config(trials=trials, runs=runs, simulated=simulated, duration_s=duration, service_ms=service_ms)
    )
    with tempfile.TemporaryDirectory(prefix="athbench-gate-quality-") as tmp:
        summary = evaluate(config, keep or Path(tmp), log=typer.echo)
    typer.echo(_line(f"real ({config.runs} runs a side)", summary["real"]))
    typer.echo(_line("simulated from the measured noise", summary["simulated"]))
    typer.echo(
        f"median B/A ratio x{summary['real']['median_ratio_ab']:.3f} (A/A x{summary['real']['median_ratio_aa']:.3f}); "
        f"real trials took {summary['duration_s']} s; load average {summary['load_average']}"
    )
    if out:
        out.write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    typer.run(main)
