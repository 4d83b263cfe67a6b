"""Measured quality of `athbench gate`: false-positive rate (A/A) and detection rate (A/B, 10 % slower).

Starts the real stack once with the test-only knob enabled, calibrates a slowdown of the
energy-assessment endpoint (`GET /api/v1/properties/{id}/energy-assessment`), then repeats whole gate
decisions over short interleaved load runs (`harness.gate.run_interleaved` + `decide`):

- A/A: both sides run the same code with no knob: any REGRESSION is a false positive;
- A/B: the candidate side gets a CPU burn (or delay) per request sized by `calibrate()` so the median
  latency is `slowdown` (10 %) higher: a REGRESSION is a detection. The knob amount is calibrated
  rather than set to 10 % of the median because a delay's timer granularity and a CPU burn on a
  contended machine cost more (or less) latency than their nominal size; the summary also gives the
  median A/B ratio the trials actually observed.

Each side of a gate gets `repetitions` short load runs (closed loop, one client, `requests` requests),
interleaved A B A B; each run contributes one sample of its median (and 10th-percentile) latency. The
gate judges each metric alone with the default threshold (x1.05) and alpha (0.05), both ways on the same
runs: paired (what `gate_interleaved` does: Wilcoxon signed-rank on per-pair ratios) and unpaired
(what reading two results files does: Mann-Whitney U).

    python -m benchmarks.gate_quality --trials 150 --repetitions 12 --requests 100 --out gate-quality.json

Rates are reported with exact (Clopper-Pearson) 95 % intervals: with n trials a 0 % observed
false-positive rate only bounds the true rate below 1 - 0.025**(1/n).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import httpx
import typer
from scipy.stats import binomtest

from benchmarks import skip_if_missing

try:  # asv imports every module under benchmarks/, also on commits older than these modules
    from harness.compare import CompareSettings
    from harness.environment import capture as capture_environment
    from harness.gate import BASELINE, GateOutcome, RunOnce, decide, merge_runs, run_interleaved
    from harness.results import Metric, RunResults, ScenarioResult
    from harness.stack import Stack, StackConfig

    MISSING: ImportError | None = None
except ImportError as exc:
    MISSING = exc

GATED_METRICS = ("latency_p50_ms", "latency_p10_ms")
METHODS = {"paired": True, "unpaired": False}
PROPERTIES = 300
WARMUP_REQUESTS = 20


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def probe(client: httpx.Client, requests: int) -> list[float]:
    """Milliseconds of `requests` sequential GETs of stored properties' energy assessments."""
    latencies = []
    for i in range(WARMUP_REQUESTS + requests):
        start = time.perf_counter()
        client.get(f"/api/v1/properties/{1 + i % 100}/energy-assessment").raise_for_status()
        if i >= WARMUP_REQUESTS:
            latencies.append((time.perf_counter() - start) * 1000.0)
    return latencies


def calibrate(client: httpx.Client, knob: str, slowdown: float, requests: int) -> tuple[float, float, float]:
    """Find the knob amount that slows the median latency by `slowdown`: (median ms, amount, observed).

    Starts from `slowdown` x the median (exact for an uncontended CPU burn), rescales twice by the
    observed effect (a delay's timer granularity and a CPU burn under contention do not cost what they
    say), then measures the final amount; each round is 8 interleaved pairs of runs.
    """
    client.put("/_test/knobs", json={}).raise_for_status()
    base_ms = statistics.median(probe(client, requests))
    amount = slowdown * base_ms
    observed = 0.0
    for round_ in range(3):
        pairs = []
        for _ in range(8):
            client.put("/_test/knobs", json={}).raise_for_status()
            plain = statistics.median(probe(client, requests))
            client.put("/_test/knobs", json={knob: amount}).raise_for_status()
            pairs.append((plain, statistics.median(probe(client, requests))))
        base_ms = statistics.median(a for a, _ in pairs)
        observed = statistics.median(b / a for a, b in pairs) - 1.0
        if round_ < 2:
            amount *= slowdown / observed if observed > 0.01 else 2.0
    client.put("/_test/knobs", json={}).raise_for_status()
    return base_ms, amount, observed


def probe_results(label: str, latencies: list[float], knobs: dict[str, float]) -> RunResults:
    """One short load run as a results document (one sample per metric)."""
    metrics = {
        "latency_p50_ms": Metric.from_samples([statistics.median(latencies)], unit="ms", better="lower"),
        "latency_p10_ms": Metric.from_samples([_percentile(latencies, 0.10)], unit="ms", better="lower"),
        "latency_p95_ms": Metric.from_samples([_percentile(latencies, 0.95)], unit="ms", better="lower"),
    }
    scenario = ScenarioResult(
        name="gate_probe", profile="optimized", params={"requests": len(latencies), **knobs}, metrics=metrics
    )
    return RunResults(
        run_id=f"{label}-{time.monotonic_ns()}", pack="gate_quality", status="complete", scenarios=[scenario]
    )


def _rate(successes: int, trials: int) -> dict[str, float | int]:
    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="exact")
    return {"k": successes, "n": trials, "rate": successes / trials, "ci95": [ci.low, ci.high]}


def main(
    trials: int = typer.Option(150, min=1, help="Gate decisions per kind (A/A and A/B)."),
    repetitions: int = typer.Option(12, min=1, help="Short load runs per side of one gate decision."),
    requests: int = typer.Option(100, min=20, help="Requests per short load run."),
    slowdown: float = typer.Option(0.10, min=0.0, help="Injected slowdown as a fraction of the median latency."),
    knob: str = typer.Option("cpu_burn_ms", help="Knob injecting the slowdown: cpu_burn_ms or delay_ms."),
    out: Path | None = typer.Option(None, help="Write the summary as JSON here."),
) -> None:
    """Run A/A and A/B gates against the real stack and report false-positive and detection rates."""
    skip_if_missing(MISSING)
    if knob not in ("cpu_burn_ms", "delay_ms"):
        raise typer.BadParameter(f"knob must be cpu_burn_ms or delay_ms, got {knob!r}")
    settings = CompareSettings()
    started = time.time()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="athbench-gate-quality-") as run_dir:
        config = StackConfig(run_dir=Path(run_dir), seed_properties=PROPERTIES, upstream=False, test_knobs=True)
        with Stack(config) as stack, httpx.Client(base_url=stack.service_url, timeout=30.0) as client:
            base_ms, amount, observed = calibrate(client, knob, slowdown, requests)
            injected = {knob: round(amount, 4)}
            typer.echo(
                f"median latency {base_ms:.3f} ms; A/B injects {injected} per request, "
                f"observed slowdown in calibration {observed:+.1%}"
            )

            def run_once_for(candidate_knobs: dict[str, float]) -> RunOnce:
                def run_once(label: str) -> RunResults:
                    knobs = {} if label == BASELINE else candidate_knobs
                    client.put("/_test/knobs", json=knobs).raise_for_status()
                    return probe_results(label, probe(client, requests), knobs)

                return run_once

            outcomes: dict[str, list[GateOutcome]] = defaultdict(list)
            ratios: dict[str, list[float]] = defaultdict(list)
            for trial in range(trials):
                line = []
                for kind, candidate_knobs in (("aa", {}), ("ab", injected)):
                    base_runs, cand_runs = run_interleaved(run_once_for(candidate_knobs), repetitions)
                    baseline = merge_runs(base_runs, "baseline")
                    candidate = merge_runs(cand_runs, "candidate")
                    for metric, (method, paired) in itertools.product(GATED_METRICS, METHODS.items()):
                        gate_settings = replace(settings, paired=paired)
                        decision = decide(baseline, candidate, gate_settings, [f"gate_probe.{metric}"])
                        (comparison,) = decision.comparisons
                        key = f"{metric}/{method}/{kind}"
                        outcomes[key].append(decision.outcome)
                        ratios[key].append(comparison.ratio or math.nan)
                        line.append(f"{key} {decision.outcome.name} x{comparison.ratio or math.nan:.3f}")
                typer.echo(f"trial {trial + 1}/{trials}: " + "; ".join(line))
            client.put("/_test/knobs", json={}).raise_for_status()

    rates = {
        f"{metric}/{method}": {
            "false_positive": _rate(outcomes[f"{metric}/{method}/aa"].count(GateOutcome.REGRESSION), trials),
            "detection": _rate(outcomes[f"{metric}/{method}/ab"].count(GateOutcome.REGRESSION), trials),
            "outcomes_aa": dict(Counter(o.name for o in outcomes[f"{metric}/{method}/aa"])),
            "outcomes_ab": dict(Counter(o.name for o in outcomes[f"{metric}/{method}/ab"])),
            "median_ratio_aa": statistics.median(ratios[f"{metric}/{method}/aa"]),
            "median_ratio_ab": statistics.median(ratios[f"{metric}/{method}/ab"]),
        }
        for metric, method in itertools.product(GATED_METRICS, METHODS)
    }
    summary = {
        "command": "python -m benchmarks.gate_quality "
        f"--trials {trials} --repetitions {repetitions} --requests {requests} --slowdown {slowdown} --knob {knob}",
        "threshold": settings.threshold,
        "alpha": settings.alpha,
        "calibrated_median_ms": base_ms,
        "injected": injected,
        "calibration_observed_slowdown": observed,
        "rates": rates,
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "duration_s": round(time.time() - started, 1),
        "environment": capture_environment(),
    }
    for key, rate in rates.items():
        fp, det = rate["false_positive"], rate["detection"]
        typer.echo(
            f"{key}: A/A false positives {fp['k']}/{fp['n']} = {fp['rate']:.1%} "
            f"(95 % CI {fp['ci95'][0]:.1%}-{fp['ci95'][1]:.1%}); "
            f"A/B detections {det['k']}/{det['n']} = {det['rate']:.1%} "
            f"(95 % CI {det['ci95'][0]:.1%}-{det['ci95'][1]:.1%}); "
            f"A/A {rate['outcomes_aa']}, A/B {rate['outcomes_ab']}; median ratio A/A "
            f"{rate['median_ratio_aa']:.3f}, A/B {rate['median_ratio_ab']:.3f}"
        )
    typer.echo(f"load average at start {load_start}, at end {os.getloadavg()}; {summary['duration_s']} s")
    if out:
        out.write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    typer.run(main)
