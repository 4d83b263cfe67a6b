"""capacity: the highest arrival rate the service sustains within its SLO, and how throughput scales.

Per repetition:

1. *Step-up* (open model): one load phase whose arrival rate steps geometrically from `start_rps` by
   `step_factor` up to `max_rps`, `step_s` seconds per step. From the phase's per-second series each step
   gets its throughput, its p95 (the largest per-second p95 inside the step, coordinated-omission
   corrected), its error fraction and the generator's CPU. A step passes when p95 <= `slo_p95_ms`, the
   error fraction <= `error_budget` and throughput >= `keep_up` x the offered rate; the first failing step
   ends the search (later steps inherit its backlog). `max_sustainable_rps` is the offered rate of the
   last passing step. A step that fails because the *generator* was saturated (CPU >= `generator_cpu_limit`)
   marks the figure as a lower bound (`limited_by = "load generator"`), not as the service's limit.
2. The same step-up against the trivial `/_test/ping` endpoint of the same service process:
   `max_rps_ratio_to_trivial` = mix / trivial. The endpoint needs the test knobs: if it does not answer,
   the service is restarted with `ATHBENCH_TEST_KNOBS=1` before anything is measured (`details["test_knobs"]`).
3. *Closed-model levels*: throughput of the mix at each of `concurrency_levels` users (one phase per
   level), fitted with the Universal Scalability Law (`harness.usl`): `usl_sigma`, `usl_kappa`,
   `usl_peak_concurrency` (omitted, with a note, when kappa ~ 0: no peak inside or near the measured range).
   A level whose load generator was at fault (saturated, short of CPU) is kept in `details["levels"]` with
   its `generator_fault` but left out of the fits; with fewer than 4 usable levels there is no USL metric.

`properties_assessed_per_hour`: energy assessments answered per hour while the service carries the whole
mix at the max sustainable rate (their share of the step-up's answered requests x that rate x 3600).

details: `steps` and `trivial_steps` (per step), `levels` (N, throughput, p95, errors), `usl` (pooled
fit with bootstrap CIs, fitted curve points for the chart), `limited_by` / `trivial_limited_by` (what
ended each search: `service`, `load generator` or `max_rps reached`; when the trivial search did not end
at the service, `ratio_note` says the ratio is an upper bound), `mix`, `test_knobs`, `affinity`.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from harness.load.endpoints import Endpoint
from harness.load.plan import ClosedPlan, OpenPlan
from harness.load.result import LoadResult
from harness.phase import generator_fault, pinned
from harness.results import Metric, ScenarioResult
from harness.usl import UslError, fit_usl
from harness.workload import TRIVIAL, by_kind, describe_mix, endpoint_mix, seeded_properties
from scenarios.base import Scenario, ScenarioContext, ScenarioError

LOWER_STEPS = 3


def step_rates(start_rps: float, factor: float, max_rps: float) -> list[float]:
    """Geometric steps start, start*factor, ... while <= max_rps (rounded to whole req/s)."""
    if start_rps <= 0 or factor <= 1 or max_rps < start_rps:
        raise ScenarioError(
            f"capacity steps need start_rps > 0, step_factor > 1, max_rps >= start_rps; "
            f"got {start_rps:g}, {factor:g}, {max_rps:g}"
        )
    rates = []
    rate = start_rps
    while rate <= max_rps * (1 + 1e-9):
        rates.append(float(round(rate)))
        rate *= factor
    return rates


def evaluate_steps(load: LoadResult, rates: list[float], step_s: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Judge each step of a step-up phase from its per-second series; stop after the first failure."""
    series = load.timeseries
    per_second = {
        int(t): (count, errors, p95)
        for t, count, errors, p95 in zip(
            series["throughput_rps"]["t"],
            series["throughput_rps"]["v"],
            series["errors_per_s"]["v"],
            series["latency_p95_ms"]["v"],
            strict=True,
        )
    }
    cpu_key = next((k for k in series if k.startswith("generator_cpu_percent_")), None)
    cpu = dict(zip(series[cpu_key]["t"], series[cpu_key]["v"], strict=True)) if cpu_key else {}
    steps: list[dict[str, Any]] = []
    for k, rate in enumerate(rates):
        seconds = range(k * step_s, (k + 1) * step_s)
        answered = sum(per_second.get(s, (0, 0, None))[0] for s in seconds)
        errors = sum(per_second.get(s, (0, 0, None))[1] for s in seconds)
        p95s = [per_second[s][2] for s in seconds if s in per_second and per_second[s][2] is not None]
        cpus = [v for t, v in cpu.items() if k * step_s < t <= (k + 1) * step_s]
        step = {
            "offered_rps": rate,
            "throughput_rps": answered / step_s,
            "p95_ms": max(p95s) if p95s else None,
            "error_fraction": errors / answered if answered else 1.0,
            "generator_cpu_percent": statistics.fmean(cpus) if cpus else None,
        }
        reasons = []
        if step["p95_ms"] is None or step["p95_ms"] > params["slo_p95_ms"]:
            reasons.append(f"p95 {step['p95_ms']} ms > SLO {params['slo_p95_ms']:g} ms")
        if step["error_fraction"] > params["error_budget"]:
            reasons.append(f"errors {step['error_fraction']:.2%} > budget {params['error_budget']:.2%}")
        if step["throughput_rps"] < params["keep_up"] * rate:
            reasons.append(f"answered {step['throughput_rps']:.0f} of {rate:g} req/s offered")
        generator_busy = step["generator_cpu_percent"] is not None and (
            step["generator_cpu_percent"] >= params["generator_cpu_limit"]
        )
        step["passed"] = not reasons
        step["reasons"] = reasons
        step["limited_by"] = None if not reasons else "load generator" if generator_busy else "service"
        steps.append(step)
        if reasons:
            break
    return steps


def sustainable(steps: list[dict[str, Any]]) -> tuple[float | None, str]:
    """Offered rate of the last passing step and what ended the search."""
    passed = [s for s in steps if s["passed"]]
    failed = [s for s in steps if not s["passed"]]
    limited_by = failed[0]["limited_by"] if failed else "max_rps reached"
    return (passed[-1]["offered_rps"] if passed else None), limited_by


def step_up(
    ctx: ScenarioContext, params: dict[str, Any], endpoints: list[Endpoint], label: str, rep: int, cpus: Any
) -> tuple[list[dict[str, Any]], list[LoadResult]]:
    """The step-up in phases of `steps_per_phase` steps, until a step fails or the rates run out.

    If the very first step fails, `LOWER_STEPS` steps below `start_rps` (same factor) are tried once, so a
    slow profile still gets a sustainable rate rather than none.
    """
    rates = step_rates(params["start_rps"], params["step_factor"], params["max_rps"])
    steps, loads = _phases(ctx, params, endpoints, label, rep, cpus, rates)
    if not steps[0]["passed"]:
        lower = [params["start_rps"] / params["step_factor"] ** k for k in range(LOWER_STEPS, 0, -1)]
        low_steps, low_loads = _phases(ctx, params, endpoints, label, rep, cpus, [float(round(r)) for r in lower])
        steps, loads = low_steps + steps, low_loads + loads
        steps = steps[: next((i + 1 for i, step in enumerate(steps) if not step["passed"]), len(steps))]
    return steps, loads


def _phases(
    ctx: ScenarioContext,
    params: dict[str, Any],
    endpoints: list[Endpoint],
    label: str,
    rep: int,
    cpus: Any,
    rates: list[float],
) -> tuple[list[dict[str, Any]], list[LoadResult]]:
    step_s = int(params["step_s"])
    per_phase = max(1, params["steps_per_phase"])
    steps: list[dict[str, Any]] = []
    loads: list[LoadResult] = []
    for first in range(0, len(rates), per_phase):
        chunk = rates[first : first + per_phase]
        ctx.log(f"{label} step-up: {', '.join(f'{r:g}' for r in chunk)} req/s, {step_s} s each")
        plan = OpenPlan.stepped([(r, float(step_s)) for r in chunk], users=params["users"], seed=rep + 1)
        name = f"capacity-{ctx.profile}-{label}-rep{rep + 1}-from{chunk[0]:g}"
        load = _load(ctx, plan, endpoints, name, params["step_warmup_s"], cpus)
        loads.append(load)
        steps.extend(evaluate_steps(load, chunk, step_s, params))
        if not steps[-1]["passed"]:
            break
    return steps, loads


def _load(
    ctx: ScenarioContext, plan: ClosedPlan | OpenPlan, endpoints: list[Endpoint], name: str, warmup_s: float, cpus: Any
) -> LoadResult:
    from harness.load.runner import run_load

    return run_load(
        ctx.target_url,
        plan,
        endpoints=endpoints,
        warmup_s=warmup_s,
        drain_s=2.0,
        cpu_affinity=cpus,
        work_dir=ctx.artifacts_dir / name,
    )


def concurrency_levels(
    ctx: ScenarioContext, params: dict[str, Any], endpoints: list[Endpoint], rep: int, cpus: Any
) -> list[dict[str, Any]]:
    levels = []
    for users in params["concurrency_levels"]:
        plan = ClosedPlan(users=int(users), duration_s=params["level_s"])
        load = _load(ctx, plan, endpoints, f"capacity-{ctx.profile}-closed{users}-rep{rep + 1}", 0.5, cpus)
        overall = load.overall
        levels.append(
            {
                "users": int(users),
                "throughput_rps": (overall.count - overall.error_count) / load.duration_s,
                "p95_ms": overall.latency_ms("p95"),
                "error_rate": overall.error_rate,
                "generator_fault": generator_fault(load),
            }
        )
    ctx.log("closed levels: " + ", ".join(f"N={lv['users']}: {lv['throughput_rps']:.0f}/s" for lv in levels))
    return levels


def ensure_trivial_endpoint(ctx: ScenarioContext) -> str:
    """Make sure `/_test/ping` answers: restart the service with the test knobs on if it does not."""
    import httpx

    try:
        if httpx.get(f"{ctx.target_url}{TRIVIAL.path}", timeout=5.0).status_code == 200:
            return "already enabled"
    except httpx.HTTPError:
        pass
    ctx.log("restarting the service with ATHBENCH_TEST_KNOBS=1 for the trivial reference endpoint")
    ctx.restart_service(extra_env={"ATHBENCH_TEST_KNOBS": "1"})
    response = httpx.get(f"{ctx.target_url}{TRIVIAL.path}", timeout=5.0)
    if response.status_code != 200:
        raise ScenarioError(
            f"the trivial endpoint {TRIVIAL.path} answers {response.status_code} even with test knobs on"
        )
    return "service restarted with ATHBENCH_TEST_KNOBS=1 (mix and trivial measured on that same process)"


METRICS: dict[str, tuple[str, str]] = {
    "max_sustainable_rps": ("req/s", "higher"),
    "max_rps_ratio_to_trivial": ("ratio", "higher"),
    "usl_sigma": ("fraction", "lower"),
    "usl_kappa": ("fraction", "lower"),
    "usl_peak_concurrency": ("users", "higher"),
    "properties_assessed_per_hour": ("1/h", "higher"),
}


def publish(result: ScenarioResult, samples: dict[str, list[float]]) -> None:
    """Metrics from the repetitions so far (called after each one, so an interrupted run keeps them)."""
    for name, values in samples.items():
        if values:
            unit, better = METRICS[name]
            result.metrics[name] = Metric.from_samples(values, unit=unit, better=better)  # type: ignore[arg-type]


def energy_share(load: LoadResult) -> float:
    """Fraction of the answered requests of a mix phase that were energy assessments."""
    kinds = by_kind(load.endpoints, load.duration_s)
    answered = sum(k["count"] for k in kinds.values())
    return kinds.get("energy_assessment", {}).get("count", 0) / answered if answered else 0.0


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    if int(params["step_s"]) != params["step_s"] or params["step_s"] < 1:
        raise ScenarioError(f"capacity step_s must be a whole number of seconds >= 1, got {params['step_s']}")
    if len(set(params["concurrency_levels"])) < 4:
        raise ScenarioError("capacity needs at least 4 distinct concurrency_levels for the USL fit")
    stack = ctx.require_stack()
    details = result.details
    details["test_knobs"] = ensure_trivial_endpoint(ctx)
    details["mix"] = describe_mix(params["variants"])
    mix = endpoint_mix(seeded_properties(stack), variants=params["variants"], seed=params["seed"])
    samples: dict[str, list[float]] = {name: [] for name in METRICS}
    for key in ("steps", "trivial_steps", "levels", "limited_by", "trivial_limited_by", "usl_errors"):
        details[key] = []
    with pinned(stack.service_processes()[0].pid, params["pin_cpus"]) as affinity:
        details["affinity"] = affinity.to_dict()
        cpus = affinity.generator
        for rep in range(params["repetitions"]):
            steps, loads = step_up(ctx, params, mix, "mix", rep, cpus)
            best, limited_by = sustainable(steps)
            details["steps"].append(steps)
            details["limited_by"].append(limited_by)
            if best is not None:
                samples["max_sustainable_rps"].append(best)
                samples["properties_assessed_per_hour"].append(best * energy_share(loads[0]) * 3600.0)
            trivial_steps, _ = step_up(ctx, params, [TRIVIAL], "trivial", rep, cpus)
            trivial, trivial_limit = sustainable(trivial_steps)
            details["trivial_steps"].append(trivial_steps)
            details["trivial_limited_by"].append(trivial_limit)
            if best is not None and trivial:
                samples["max_rps_ratio_to_trivial"].append(best / trivial)
                if trivial_limit != "service":
                    details["ratio_note"] = (
                        f"the trivial endpoint's search ended at '{trivial_limit}', not at the service's limit: "
                        "its true maximum is higher, so the ratio is an upper bound"
                    )
            levels = concurrency_levels(ctx, params, mix, rep, cpus)
            details["levels"].append(levels)
            usable = [lv for lv in levels if not lv["generator_fault"]]
            try:
                fit = fit_usl([lv["users"] for lv in usable], [lv["throughput_rps"] for lv in usable], 0)
                samples["usl_sigma"].append(fit.sigma)
                samples["usl_kappa"].append(fit.kappa)
                if math.isfinite(fit.peak_concurrency):
                    samples["usl_peak_concurrency"].append(fit.peak_concurrency)
            except UslError as exc:
                details["usl_errors"].append(str(exc))
            publish(result, samples)
    _pooled_fit([lv for levels in details["levels"] for lv in levels if not lv["generator_fault"]], details)
    if samples["usl_sigma"] and not samples["usl_peak_concurrency"]:
        details["usl_peak_note"] = "kappa ~ 0 in every fit: throughput shows no retrograde region, N* is unbounded"
    if not samples["max_sustainable_rps"]:
        details["note"] = "even the lowest step broke the SLO: lower start_rps"


def _pooled_fit(levels: list[dict[str, Any]], details: dict[str, Any]) -> None:
    """USL fit over every repetition's levels, with bootstrap CIs and the curve for the chart."""
    try:
        fit = fit_usl([lv["users"] for lv in levels], [lv["throughput_rps"] for lv in levels])
    except UslError as exc:
        details["usl"] = {"error": str(exc)}
        return
    top = max(lv["users"] for lv in levels)
    grid = sorted({1.0, *(float(n) for n in range(1, 2 * top + 1))})
    details["usl"] = {**fit.to_dict(), "curve": [[n, x] for n, x in zip(grid, fit.predict(grid), strict=True)]}


SCENARIO = Scenario(
    name="capacity",
    description="max arrival rate within the p95 SLO, ratio to a trivial endpoint, USL fit of closed-model throughput",
    run=run,
    defaults={
        "slo_p95_ms": 100.0,
        "error_budget": 0.01,
        "keep_up": 0.95,
        "start_rps": 200.0,
        "step_factor": 1.4,
        "max_rps": 6000.0,
        "step_s": 3,
        "step_warmup_s": 1.0,
        "steps_per_phase": 4,
        "users": 300,
        "generator_cpu_limit": 90.0,
        "concurrency_levels": [1, 2, 4, 8, 16, 32, 64],
        "level_s": 3.0,
        "repetitions": 3,
        "variants": 5,
        "seed": 0,
        "pin_cpus": False,
    },
    area="capacity",
)
