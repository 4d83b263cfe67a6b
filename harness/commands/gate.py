"""`athbench gate`: pass (0), regression (1) or undecidable (2) for CI.

Reads results files, several runs per side (`--baseline A1 --baseline A2 ... --candidate B1 ...`; each
may also be a directory of runs), or runs both sides itself
(`--pack PACK --baseline-profile P --candidate-profile Q --repetitions N`): the pack is run N times per
side, interleaved A B A B on this machine, and the runs are compared pair by pair. The run is the unit
of comparison: with one run per side the answer is at best "undecidable" (exit 2). Run mode takes the
options of `assess` and `run` (`--postgres-dsn`, `--redis-url`, `--load-workers`, `--seed`), shows their
progress, and stops every process on Ctrl-C / SIGTERM (exit 130).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.commands.common import interruptions_as_exit_codes, stack_config
from harness.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLD, CompareSettings
from harness.gate import BASELINE, GateDecision, GateOutcome, decide, gate_interleaved, to_junit_xml, to_markdown
from harness.options import LoadSeed, LoadWorkers, PostgresDsn, RedisUrl, apply_load_seed, apply_load_workers
from harness.processes import install_signal_handlers
from harness.progress import counter, plain_log, show_progress
from harness.results import ResultsError, RunResults, read

console = Console()
_STYLE = {GateOutcome.PASS: "green", GateOutcome.REGRESSION: "red", GateOutcome.UNDECIDABLE: "yellow"}
UNDECIDABLE = int(GateOutcome.UNDECIDABLE)


def _run_sides(
    pack_name: str,
    profiles: dict[str, str],
    repetitions: int,
    only: list[str],
    output: Path,
    settings: CompareSettings,
    metrics: list[str] | None,
    servers: dict[str, str],
) -> GateDecision:
    """Run the pack A B A B ...; each side's scenarios are labelled `gate` so the two sides match up.

    `servers` is RunOptions.stack_config: external PostgreSQL / Redis replacing the embedded ones.
    """
    from harness.packs import load_pack
    from harness.runner import RunOptions, run_pack

    pack = load_pack(pack_name)

    def run_once(label: str) -> RunResults:
        options = RunOptions(
            profiles=(profiles[label],),
            output=output / label,
            only=only or None,
            log=plain_log(console),
            stack_config=dict(servers),
            seed_progress=counter("seeding", "seeding properties"),
        )
        results, _ = run_pack(pack, options)
        for scenario in results.scenarios:
            scenario.params = {**scenario.params, "profile": scenario.profile}
            scenario.profile = "gate"
        return results

    with interruptions_as_exit_codes(console), show_progress(console):
        return gate_interleaved(run_once, repetitions, settings, metrics, paired=True)


def read_side(paths: list[Path]) -> list[RunResults]:
    """The runs of one side: results files, run directories, or directories holding several runs."""
    from harness.history import results_files

    files = results_files(paths)
    if not files:
        raise ResultsError(f"no results file under {', '.join(map(str, paths))}")
    return [read(file) for file in files]


def command(
    baseline: list[Path] = typer.Option(
        [], help="Baseline run: results file, run directory or directory of runs (repeat: one per run)."
    ),
    candidate: list[Path] = typer.Option(
        [], help="Candidate run: results file, run directory or directory of runs (repeat: one per run)."
    ),
    pack: str | None = typer.Option(None, help="Run mode: the pack to run on both sides."),
    baseline_profile: str = typer.Option("baseline", help="Run mode: service profile of the baseline side."),
    candidate_profile: str = typer.Option("optimized", help="Run mode: service profile of the candidate side."),
    repetitions: int = typer.Option(8, min=1, help="Run mode: pack runs per side (paired CI needs >= 6)."),
    only: list[str] = typer.Option([], help="Run mode: only these scenarios of the pack (repeatable)."),
    output: Path = typer.Option(Path("athbench-out/gate"), help="Run mode: where the runs are written."),
    postgres_dsn: PostgresDsn = None,
    redis_url: RedisUrl = None,
    load_workers: LoadWorkers = 1,
    seed: LoadSeed = 0,
    threshold: float = typer.Option(DEFAULT_THRESHOLD, help="Factor beyond which a significant slowdown fails."),
    alpha: float = typer.Option(DEFAULT_ALPHA, help="Significance level (Holm-adjusted across metrics)."),
    metric: list[str] = typer.Option([], help="Gate only on these scenario.metric names (repeatable)."),
    paired: bool = typer.Option(
        False, help="Read mode: run i of each side was measured side by side (interleaved), in the order given."
    ),
    junit: Path | None = typer.Option(None, help="Write JUnit XML here."),
    summary: Path | None = typer.Option(None, help="Write a Markdown summary here."),
) -> None:
    """Decide whether the candidate regressed against the baseline; the exit code is the decision."""
    install_signal_handlers()
    apply_load_workers(load_workers)
    apply_load_seed(seed)
    try:
        settings = CompareSettings(threshold=threshold, alpha=alpha, paired=paired)
        if baseline and candidate:
            decision = decide(read_side(baseline), read_side(candidate), settings, metric or None)
        elif pack is not None and not baseline and not candidate:
            profiles = {BASELINE: baseline_profile, "candidate": candidate_profile}
            servers = stack_config(postgres_dsn, redis_url)
            decision = _run_sides(pack, profiles, repetitions, only, output, settings, metric or None, servers)
        else:
            raise ValueError("give --baseline and --candidate (results files), or --pack to run both sides")
    except (ResultsError, ValueError) as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(UNDECIDABLE) from None
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(to_junit_xml(decision))
    text = to_markdown(decision)
    if summary:
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(text)
    console.print(f"[{_STYLE[decision.outcome]}]{decision.outcome.name}[/] (exit {decision.exit_code})")
    for reason in decision.reasons:
        console.print(f"  - {reason}", markup=False)
    raise typer.Exit(decision.exit_code)
