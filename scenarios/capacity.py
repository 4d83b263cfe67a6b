"""capacity: the highest arrival rate the service sustains within its SLO, and how throughput scales.

Per repetition:

1. *Capacity search* (`harness.capacity_search`, open model): one load phase per step at a constant rate,
   each long enough for its p95 to hold `min_requests` requests (after `step_warmup_s` of warm-up at the
   same rate). A coarse ramp from `start_rps` by `ramp_factor` brackets the limit, bisection narrows the
   bracket to `resolution` (relative), and a step `confirm_factor` times longer (at least `min_confirm_s`:
   whole periods of the service's periodic work, so a periodic stall weighs as in the long run) confirms
   the found rate; a failing step is measured again as long (`recheck_failures`), so one step that met a periodic
   stall does not send the search down.
   A step passes when its corrected p95 <= `slo_p95_ms`, its error rate <= `error_budget`, it answered
   >= `keep_up` x the offered rate, and its phase was neither backlogged nor limited by the load generator.
   `max_sustainable_rps` is the confirmed rate; when the search ended at the load generator or at
   `max_rps`, it is recorded as a lower bound ("at least"). Every phase goes through the context's one
   validity policy (`ctx.load_phase`); a step is a search step there: a generator at fault ends the search
   (a lower bound, listed in `details["generator_limited"]`) instead of making the run invalid.
2. The same search against the trivial `/_test/ping` endpoint of the same service process, at the coarser
   `trivial_resolution`, its ramp starting at the mix's rate: `max_rps_ratio_to_trivial` = mix / trivial.
   The endpoint needs the test knobs: if it does not answer, the service is restarted with
   `ATHBENCH_TEST_KNOBS=1` before anything is measured.
3. *Closed-model levels*: throughput of the mix at each of `concurrency_levels` users (one phase per
   level), fitted with the Universal Scalability Law (`harness.usl`): `usl_sigma`, `usl_kappa`,
   `usl_peak_concurrency` (omitted, with a note, when kappa ~ 0: no peak inside or near the measured range).
   A level whose load generator was at fault is kept in `details["levels"]` with its `generator_fault` but
   left out of the fits; with fewer than 4 usable levels there is no USL metric. The pooled fit's intervals
   (`details["usl"]["ci95"]`) are refused when the levels have too few degrees of freedom (`ci_note`).

`properties_assessed_per_hour`: energy assessments answered per hour while the service carries the whole
mix at the max sustainable rate (their share of the confirming step's answered requests x that rate x 3600).

details: `searches` and `trivial_searches` (per repetition: rate, limited_by, lower_bound and every step
with its stage, rate, duration, requests, p95, errors, pass/fail and why), `levels` (N, throughput, p95,
errors, X-Cache hit ratio), `hit_ratio` (per repetition, per search step of the mix: the share of its
X-Cache-marked answers that were hits; the last is the confirming step's), `traffic` (the confirming
step's `LoadResult.traffic`: distinct ids sent, hottest-1 % share, hits and misses apart), `usl` (pooled
fit with bootstrap CIs when it has the degrees of freedom, fitted curve points for the chart),
`ratio_note` (when the trivial search did not end at the service), `mix` (the standard mix: Zipf over
every seeded row, with writes; `harness.workload`), `test_knobs`, `affinity`.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from harness.load import ClosedPlan, Endpoint, LoadResult, OpenPlan
from scenarios.base import (
    MIX_DEFAULTS,
    TRIVIAL,
    MetricSpec,
    Scenario,
    ScenarioContext,
    ScenarioError,
    ScenarioResult,
    SearchConfig,
    SearchResult,
    StepOutcome,
    UslError,
    by_kind,
    describe_mix,
    endpoint_mix,
    fit_usl,
    mix_options,
    phase_seed,
    search,
)

SEARCH_KEYS = (
    "slo_p95_ms",
    "error_budget",
    "keep_up",
    "start_rps",
    "max_rps",
    "min_rps",
    "ramp_factor",
    "resolution",
    "min_requests",
    "min_step_s",
    "max_step_s",
    "confirm_factor",
    "min_confirm_s",
    "confirmations",
    "recheck_failures",
)


def search_config(params: dict[str, Any], trivial: bool = False, start_rps: float | None = None) -> SearchConfig:
    """The search's configuration from the scenario's parameters (the trivial search at its own resolution,
    its ramp starting at the mix's sustainable rate when there is one: the trivial endpoint sustains more)."""
    values = {key: params[key] for key in SEARCH_KEYS}
    if trivial:
        values["resolution"] = params["trivial_resolution"]
    if start_rps is not None:
        values["start_rps"] = min(max(start_rps, params["min_rps"]), params["max_rps"])
    try:
        return SearchConfig(**values)
    except ValueError as exc:
        raise ScenarioError(str(exc)) from exc


def step_outcome(load: LoadResult, rate_rps: float) -> StepOutcome:
    """What a constant-rate open-model phase says about its step (p95 corrected for coordinated omission)."""
    overall = load.overall
    limited_by = load.validity.get("limited_by")
    return StepOutcome(
        offered_rps=rate_rps,
        duration_s=load.duration_s,
        requests=overall.count,
        p95_ms=overall.latency_ms("p95"),
        error_rate=overall.error_rate,
        throughput_rps=(overall.count - overall.error_count) / load.duration_s,
        backlogged=limited_by == "backlog" or bool(getattr(load, "lower_bound", False)),
        generator_limited=limited_by == "generator",
        note=load.invalid_reason,
    )


def capacity_search(
    ctx: ScenarioContext,
    params: dict[str, Any],
    endpoints: list[Endpoint],
    label: str,
    rep: int,
    cpus: Any,
    trivial: bool = False,
    start_rps: float | None = None,
) -> tuple[SearchResult, list[LoadResult]]:
    """Search the sustainable rate of `endpoints`, one load phase per step; also return each step's load."""
    loads: list[LoadResult] = []

    def measure(rate: float, duration_s: float) -> StepOutcome:
        plan = OpenPlan.constant(rate, duration_s, users=params["users"], seed=rep + 1)
        phase = ctx.load_phase(
            plan,
            endpoints,
            label=f"{label}-rep{rep + 1}-step{len(loads) + 1}-{rate:.0f}rps",
            search_step=True,
            warmup_s=params["step_warmup_s"],
            drain_s=2.0,
            cpu_limit_percent=params["generator_cpu_limit"],
            cpu_affinity=cpus,
            seed=phase_seed("capacity", label, rep, len(loads)),
        )
        loads.append(phase.load)
        outcome = step_outcome(phase.load, rate)
        p95 = "-" if outcome.p95_ms is None else f"{outcome.p95_ms:.0f} ms"
        flags = [f"errors {outcome.error_rate:.1%}"] if outcome.error_rate else []
        flags += ["generator-limited"] * outcome.generator_limited + ["backlogged"] * outcome.backlogged
        more = f" ({', '.join(flags)})" if flags else ""
        ctx.log(f"{label} {rate:.0f} req/s for {duration_s:.1f} s: p95 {p95}, {outcome.requests} requests{more}")
        return outcome

    found = search(measure, search_config(params, trivial, start_rps))
    ctx.log(f"{label}: {found.rate_rps} req/s ({found.limited_by}, {len(found.steps)} steps)")
    return found, loads


def concurrency_levels(
    ctx: ScenarioContext, params: dict[str, Any], endpoints: list[Endpoint], rep: int, cpus: Any
) -> list[dict[str, Any]]:
    """Closed-model throughput of the mix at each concurrency level (uncorrected latency: no schedule)."""
    levels = []
    for users in params["concurrency_levels"]:
        plan = ClosedPlan(users=int(users), duration_s=params["level_s"])
        phase = ctx.load_phase(
            plan,
            endpoints,
            label=f"closed{users}-rep{rep + 1}",
            warmup_s=0.5,
            drain_s=2.0,
            cpu_limit_percent=params["generator_cpu_limit"],
            cpu_affinity=cpus,
            seed=phase_seed("capacity", "closed", rep, users),
        )
        point = phase.point(users=int(users), hit_ratio=phase.load.overall.cache_hit_ratio)
        levels.append({**point, "generator_fault": phase.fault})
    ctx.log("closed levels: " + ", ".join(f"N={lv['users']}: {lv['throughput_rps']:.0f}/s" for lv in levels))
    return levels


def ensure_trivial_endpoint(ctx: ScenarioContext) -> str:
    """Make sure `/_test/ping` answers: restart the service with the test knobs on if it does not."""
    try:
        if httpx.get(f"{ctx.target_url}{TRIVIAL.path}", timeout=5.0).status_code == 200:
            return "already enabled"
    except httpx.HTTPError:
        pass
    ctx.log("restarting the service with ATHBENCH_TEST_KNOBS=1 for the trivial reference endpoint")
    ctx.restart_service(env={"ATHBENCH_TEST_KNOBS": "1"})
    response = httpx.get(f"{ctx.target_url}{TRIVIAL.path}", timeout=5.0)
    if response.status_code != 200:
        raise ScenarioError(
            f"the trivial endpoint {TRIVIAL.path} answers {response.status_code} even with test knobs on"
        )
    return "service restarted with ATHBENCH_TEST_KNOBS=1 (mix and trivial measured on that same process)"


def energy_share(load: LoadResult) -> float:
    """Fraction of the answered requests of a mix phase that were energy assessments."""
    kinds = by_kind(load.endpoints, load.duration_s)
    answered = sum(k["count"] for k in kinds.values())
    return kinds.get("energy_assessment", {}).get("count", 0) / answered if answered else 0.0


def settle(ctx: ScenarioContext, params: dict[str, Any], endpoints: list[Endpoint], cpus: Any) -> dict[str, float]:
    """Unmeasured traffic at half the start rate before the search: a service just started is slower for its
    first seconds (pool, caches, the database's buffers), and a first step failed for that reason would
    send the search below the steady-state capacity it is after."""
    if params["settle_s"] <= 0:
        return {}
    rate = max(params["min_rps"], params["start_rps"] / 2.0)
    ctx.log(f"settling: {rate:.0f} req/s for {params['settle_s']:g} s, not measured")
    ctx.load_phase(
        OpenPlan.constant(rate, params["settle_s"], users=params["users"]),
        endpoints,
        label="settle",
        warmup_s=0.0,
        cpu_limit_percent=params["generator_cpu_limit"],
        cpu_affinity=cpus,
        seed=phase_seed("capacity", "settle"),
    )
    return {"rate_rps": rate, "duration_s": params["settle_s"]}


def run(ctx: ScenarioContext, params: dict[str, Any], result: ScenarioResult) -> None:
    search_config(params)  # a bad search configuration fails before anything is started
    search_config(params, trivial=True)
    if len(set(params["concurrency_levels"])) < 4:
        raise ScenarioError("capacity needs at least 4 distinct concurrency_levels for the USL fit")
    details = result.details
    details["test_knobs"] = ensure_trivial_endpoint(ctx)
    mix = endpoint_mix(
        ctx.data.properties, users=ctx.data.users, admin_headers=ctx.admin_headers(), **mix_options(params)
    )
    details["mix"] = describe_mix(mix)
    for key in ("searches", "trivial_searches", "levels", "usl_errors", "hit_ratio", "traffic"):
        details[key] = []
    with ctx.pinned(params["pin_cpus"]) as affinity:
        details["affinity"] = affinity.to_dict()
        cpus = affinity.generator
        details["settled"] = settle(ctx, params, mix, cpus)
        for rep in range(params["repetitions"]):
            found, loads = capacity_search(ctx, params, mix, "mix", rep, cpus)
            details["searches"].append(found.to_dict())
            # which path each step measured; the last step of a search that found a rate is its confirmation
            details["hit_ratio"].append([load.overall.cache_hit_ratio for load in loads])
            if found.rate_rps is not None:
                details["traffic"].append(loads[-1].traffic())
            best = found.rate_rps
            bound = "at_least" if found.lower_bound else "exact"
            if best is not None:
                ctx.record("max_sustainable_rps", best, bound=bound)
                # the last step of a search that found a rate is its passing confirmation
                share = energy_share(loads[-1])
                ctx.record("properties_assessed_per_hour", best * share * 3600.0, bound=bound)
            trivial_found, _ = capacity_search(
                ctx, params, [TRIVIAL], "trivial", rep, cpus, trivial=True, start_rps=best
            )
            details["trivial_searches"].append(trivial_found.to_dict())
            trivial = trivial_found.rate_rps
            if best is not None and trivial:
                if trivial_found.lower_bound:
                    details["ratio_note"] = (
                        f"the trivial endpoint's search ended at '{trivial_found.limited_by}', not at the service's "
                        "limit: its true maximum is higher, so the ratio is an upper bound"
                    )
                ratio_bound = "at_most" if trivial_found.lower_bound and not found.lower_bound else "exact"
                ctx.record("max_rps_ratio_to_trivial", best / trivial, bound=ratio_bound)
            levels = concurrency_levels(ctx, params, mix, rep, cpus)
            details["levels"].append(levels)
            usable = [lv for lv in levels if not lv["generator_fault"]]
            try:
                fit = fit_usl([lv["users"] for lv in usable], [lv["throughput_rps"] for lv in usable], 0)
                ctx.record("usl_sigma", fit.sigma)
                ctx.record("usl_kappa", fit.kappa)
                if math.isfinite(fit.peak_concurrency):
                    ctx.record("usl_peak_concurrency", fit.peak_concurrency)
            except UslError as exc:
                details["usl_errors"].append(str(exc))
    _pooled_fit([lv for levels in details["levels"] for lv in levels if not lv["generator_fault"]], details)
    if ctx.samples("usl_sigma") and not ctx.samples("usl_peak_concurrency"):
        details["usl_peak_note"] = "kappa ~ 0 in every fit: throughput shows no retrograde region, N* is unbounded"
    if not ctx.samples("max_sustainable_rps"):
        details["note"] = "no sustainable rate was found and confirmed: see details['searches']"


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


PHASE_OVERHEAD_S = 2.5  # a load phase's start, drain and summary beyond its planned seconds
ASSUMED_RPS = 1000.0  # the step length depends on the rate found; this guess sizes the estimate


def estimate(params: dict[str, Any]) -> float:
    """Expected wall seconds (progress only): per repetition a ramp of about 3 steps, bisection to the
    resolution and a confirming step, for the mix and the trivial endpoint, then the concurrency levels."""
    step = max(params["min_step_s"], params["min_requests"] / ASSUMED_RPS)
    long = max(step * params["confirm_factor"], params["min_confirm_s"])  # confirmations and rechecks
    per_phase = params["step_warmup_s"] + PHASE_OVERHEAD_S

    def search_s(resolution: float) -> float:  # about half the bisection's steps fail and are measured again
        bisect = math.ceil(math.log2(1.0 / resolution))
        rechecks = 1 + bisect / 2 if params["recheck_failures"] else 0.0
        return (3 + bisect) * (step + per_phase) + (1 + rechecks) * (long + per_phase)

    levels = len(params["concurrency_levels"]) * (params["level_s"] + 0.5 + PHASE_OVERHEAD_S)
    per_repetition = search_s(params["resolution"]) + search_s(params["trivial_resolution"]) + levels
    return 10.0 + params["settle_s"] + params["repetitions"] * per_repetition


SCENARIO = Scenario(
    name="capacity",
    description="max arrival rate within the p95 SLO, ratio to a trivial endpoint, USL fit of closed-model throughput",
    run=run,
    estimate=estimate,
    defaults={
        "slo_p95_ms": 100.0,
        "error_budget": 0.01,
        "keep_up": 0.95,
        "start_rps": 200.0,
        "max_rps": 6000.0,
        "min_rps": 5.0,
        "ramp_factor": 2.0,
        "resolution": 0.1,
        "trivial_resolution": 0.2,
        "min_requests": 300,
        "min_step_s": 1.0,
        "max_step_s": 20.0,
        "confirm_factor": 2.0,
        "min_confirm_s": 0.0,
        "confirmations": 3,
        "recheck_failures": True,
        "step_warmup_s": 1.0,
        "settle_s": 5.0,
        "users": 300,
        "generator_cpu_limit": 90.0,
        "concurrency_levels": [1, 2, 4, 8, 16, 32, 64],
        "level_s": 3.0,
        "repetitions": 3,
        **MIX_DEFAULTS,
        "pin_cpus": False,
    },
    area="capacity",
    metrics=(
        MetricSpec(
            "max_sustainable_rps",
            "req/s",
            "higher",
            "scalability",
            "highest arrival rate the service sustains within the latency SLO and error budget",
        ),
        MetricSpec(
            "max_rps_ratio_to_trivial",
            "ratio",
            "higher",
            "scalability",
            "max sustainable rate of the mix divided by that of a trivial endpoint",
        ),
        MetricSpec("usl_sigma", "fraction", "lower", "scalability", "Universal Scalability Law contention coefficient"),
        MetricSpec("usl_kappa", "fraction", "lower", "scalability", "Universal Scalability Law coherency coefficient"),
        MetricSpec("usl_peak_concurrency", "users", "higher", "scalability", "concurrency at which the USL fit peaks"),
        MetricSpec(
            "properties_assessed_per_hour",
            "1/h",
            "higher",
            "scalability",
            "energy assessments per hour at the max sustainable rate",
        ),
    ),
)
