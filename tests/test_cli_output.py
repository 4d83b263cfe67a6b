"""What the command line prints: tables that keep metric names whole at 80 columns, help without markup accidents.

Results files are the hand-written fixtures of `reports_fixtures` (not measurements), read back by the
real commands through typer's CliRunner with COLUMNS set.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from reports_fixtures import FIGURES, build_run, write_run
from rich.console import Console
from typer.main import get_command
from typer.testing import CliRunner

from harness.cli import COMMANDS, app
from harness.commands.run import scenario_lines
from harness.commands.stack import print_checks, seed_sentence
from harness.packs import available_scenarios
from harness.smoke import HEALTH, Check
from harness.tables import block_lines, column_widths, overhead
from system_under_test.data.seed import SeedReport
from tests.cli_support import subcommands

runner = CliRunner()
# The commands' consoles are created when their module is first imported, and fix their width then if
# COLUMNS is set: import them all here, outside the runner's COLUMNS, so each invocation sets its own.
for _module, _ in COMMANDS:
    importlib.import_module(f"harness.commands.{_module}")
NARROW, WIDE = 80, 220
KEYS = [f"{scenario}.{metric}" for scenario, metric in FIGURES]


def _invoke(args: list[str], columns: int) -> str:
    result = runner.invoke(app, args, env={"COLUMNS": str(columns), "TERM": "xterm"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output


def _unbroken(names: list[str], output: str) -> list[str]:
    """The names that do not appear whole on one line of `output`."""
    lines = output.splitlines()
    return [name for name in names if not any(re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", ln) for ln in lines)]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return (
        write_run(root / "a" / "results.json", build_run(run_id="A")).parent,
        write_run(root / "b" / "results.json", build_run(run_id="B")).parent,
    )


# --- the width decision --------------------------------------------------------------------------------


def test_column_widths_keep_the_key_whole_and_shrink_the_widest_other_column_first() -> None:
    header = ["metric", "note", "n"]
    rows = [["api_latency.latency_p95_ms", "a rather long note that can wrap at its spaces", "3"]]
    natural = column_widths(header, rows, 200)
    assert natural == [26, 46, 1]
    widths = column_widths(header, rows, 60)
    assert widths is not None
    assert widths[0] == 26 and widths[2] == 1  # key whole; the narrow column untouched
    assert sum(widths) + overhead(3) <= 60 and widths[1] >= len("rather")


def test_column_widths_give_up_rather_than_cut_the_key_or_a_word() -> None:
    header = ["metric", "value"]
    rows = [["consistency.staleness_p99_ms_cross_process [baseline]", "1.01e+03"]]
    assert column_widths(header, rows, 60) is None  # 53 + 8 + 7 > 60
    blocks = block_lines(header, rows, 60)
    assert blocks == [["consistency.staleness_p99_ms_cross_process [baseline]", "  value: 1.01e+03"]]


def test_block_pairs_wrap_between_pairs_within_the_width() -> None:
    header = ["key", *(f"column{i}" for i in range(12))]
    rows = [["x", *(f"value{i}" for i in range(12))]]
    (block,) = block_lines(header, rows, 40)
    assert block[0] == "x" and len(block) > 2
    assert all(len(line) <= 40 for line in block[1:])
    assert " ".join(block[1:]).split() == " ".join(f"column{i}: value{i}" for i in range(12)).split()


# --- the commands at 80 columns and wide ---------------------------------------------------------------


@pytest.mark.parametrize("columns", [NARROW, WIDE])
def test_compare_prints_every_metric_name_whole(two_runs: tuple[Path, Path], columns: int) -> None:
    output = _invoke(["compare", str(two_runs[0]), str(two_runs[1])], columns)
    assert not _unbroken([f"{key} [baseline]" for key in KEYS] + [f"{key} [optimized]" for key in KEYS], output)
    assert ("┃" in output) == (columns == WIDE)  # a table when wide, blocks at 80
    assert all(len(line) <= columns for line in output.splitlines() if not line.startswith(tuple(KEYS)))


@pytest.mark.parametrize("columns", [NARROW, WIDE])
def test_results_show_prints_every_metric_name_whole(two_runs: tuple[Path, Path], columns: int) -> None:
    output = _invoke(["results", "show", str(two_runs[0])], columns)
    assert not _unbroken([metric for _, metric in FIGURES], output)
    assert all(len(line) <= columns for line in output.splitlines())
    assert "┃" in output  # five columns fit at 80 with the metric name whole


def test_results_list_names_every_run(two_runs: tuple[Path, Path]) -> None:
    output = _invoke(["results", "list", "--output", str(two_runs[0].parent)], NARROW)
    assert not _unbroken(["A", "B", "resilience_faults"], output)
    assert all(len(line) <= NARROW for line in output.splitlines())


def test_gate_reasons_name_every_metric_whole_at_80_columns(two_runs: tuple[Path, Path]) -> None:
    output = _invoke(["gate", "--baseline", str(two_runs[0]), "--candidate", str(two_runs[1])], NARROW)
    assert output.startswith("UNDECIDABLE (exit 2)")
    directional = [f"{s}.{m}" for (s, m), (_, better, _, _) in FIGURES.items() if better != "none"]
    assert not _unbroken(directional, output)
    assert all(len(line) <= NARROW for line in output.splitlines())


@pytest.mark.parametrize("columns", [NARROW, WIDE])
def test_stack_check_table_prints_every_path_whole(columns: int) -> None:
    paths = [
        "/health",
        "/api/v1/market/Kolonaki/comparison?property_id=1",
        "/api/v1/properties/not-a-number/energy-assessment",
    ]
    checks = [
        Check("GET", paths[0], HEALTH, True, 200, "status pass"),
        Check("GET", paths[1], 200, True, 200, ""),
        Check("GET", paths[2], 422, False, 500, 'Internal Server Error {"detail": "unexpected"}'),
    ]
    console = Console(width=columns, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_checks(console, checks)
    output = console.export_text()
    assert not _unbroken(paths, output)
    assert "200/503" in output and "NO Internal Server Error" in " ".join(output.split())


# --- help texts and plain sentences -------------------------------------------------------------------


def _command_paths() -> list[list[str]]:
    def walk(command, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in sorted(subcommands(command).items()):
            found += walk(sub, [*path, name])
        return found

    return walk(get_command(app), [])


def _help_texts(path: list[str]) -> list[str]:
    command = get_command(app)
    for name in path:
        command = subcommands(command)[name]
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    return [t.replace("\\[", "[") for t in texts]  # as meant: rich's escape removed


def test_every_help_shows_its_brackets_literally() -> None:
    paths = _command_paths()
    assert ["stack", "seed"] in paths and ["results", "show"] in paths and ["run"] in paths
    problems = []
    for path in paths:
        output = _invoke([*path, "--help"], NARROW)
        flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())
        for token in {t for text in _help_texts(path) for t in re.findall(r"\[+[^\[\]\s]*\]+", text)}:
            if token not in flat:
                problems.append(f"{' '.join(path)}: {token} missing")
        for remnant in ("[/", "[]"):
            if remnant in flat:
                problems.append(f"{' '.join(path)}: markup remnant {remnant!r}")
    assert not problems
    assert "[[endpoint]]" in _invoke(["assess", "--help"], NARROW)
    assert "[endpoint.params]" in _invoke(["run", "--help"], WIDE)


def test_run_list_names_every_scenario_with_its_description() -> None:
    result = runner.invoke(app, ["run", "--list"], env={"COLUMNS": str(NARROW)})
    assert result.exit_code == 0, result.output
    assert [name for name, _ in scenario_lines()] == sorted(available_scenarios())
    flat = " ".join(result.output.split())
    for name, description in scenario_lines():
        assert f"{name} {' '.join(description.split())}" in flat
    assert "--list" in _invoke(["run", "--help"], WIDE)
    assert runner.invoke(app, ["run"]).exit_code == 2  # SCENARIO is still required without --list


def test_stack_seed_report_is_a_sentence() -> None:
    report = SeedReport(
        properties=10_000,
        market_transactions=40_000,
        users=500,
        portfolios=200,
        portfolio_properties=1_000,
        load_seconds=9.84,
        index_seconds=2.21,
        seconds=12.3,
    )
    sentence = seed_sentence(report)
    assert sentence == (
        "Seeded 10,000 properties, 40,000 market transactions, 500 users and 200 portfolios "
        "(1,000 portfolio properties) in 12.3 s: loading 9.8 s, indexes 2.2 s."
    )
