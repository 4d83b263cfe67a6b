"""README.md and docs/*.md against the code: every `athbench` command and option, `python -m` option,
`scenario.metric`, repository path, dotted name (`harness.results.read`), `Class.member` / `ctx.member`,
`ATHBENCH_*` variable and pack key they name exists.

The checkers are pure functions over markdown text, so each is also run on a small synthetic text with a
made-up name (it must be caught). The command tree comes from typer's click command, not subprocesses.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from pathlib import Path

import pytest
import typer

from harness.cli import app
from harness.packs import PACK_KEYS, TABLES, PackError, available_scenarios, parse_pack, undeclared_reason
from tests.cli_support import subcommands

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGES = ("harness", "scenarios", "reports", "system_under_test", "benchmarks", "tests")
PATH_ROOTS = (*PACKAGES, "docs", ".ci")
# Options of other tools named alone in prose (not in a command line of the same file): whose they are.
FOREIGN_OPTIONS = {
    "--benchmark-skip": "pytest-benchmark, in pyproject.toml's addopts",
    "--environment": "asv run",
}
Tree = dict[tuple[str, ...], frozenset[str]]  # command path -> its options (a group's children: longer paths)


@functools.cache
def command_tree() -> Tree:
    """Every `athbench` command path with its options (`--help` included), walked from typer's click command."""
    tree: Tree = {}

    def walk(command: object, path: tuple[str, ...]) -> None:
        params = getattr(command, "params", [])
        opts = {o for p in params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}
        tree[path] = frozenset(opts | {"--help"})
        for name, sub in subcommands(command).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ("athbench",))
    return tree


def children(tree: Tree, path: tuple[str, ...]) -> set[str]:
    return {p[len(path)] for p in tree if len(p) == len(path) + 1 and p[: len(path)] == path}


# markdown -> code -----------------------------------------------------------------------------------------


def code_snippets(text: str) -> list[tuple[int, str]]:
    """(line number, code): each inline span, and each logical line (`\\` continuations joined) of a fenced
    block that names its language (a block without one is a diagram or program output); YAML `name:` lines
    are labels, not commands."""
    found: list[tuple[int, str]] = []
    text = text.replace("\\|", "|")
    fence = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
    done = 0
    for block in [*fence.finditer(text), None]:
        prose_end = block.start() if block else len(text)
        for span in re.finditer(r"`([^`]+)`", text[done:prose_end]):
            found.append((text[: done + span.start()].count("\n") + 1, " ".join(span.group(1).split())))
        if block is None:
            break
        done = block.end()
        if not block.group(1):
            continue
        first = text[: block.start(2)].count("\n") + 1
        pending, start = "", first
        for offset, line in enumerate(block.group(2).splitlines()):
            if block.group(1) == "yaml" and re.match(r"\s*-?\s*name:", line):
                continue
            start = start if pending else first + offset
            pending += line.rstrip().removesuffix("\\") + " "
            if not line.rstrip().endswith("\\"):
                found.append((start, " ".join(pending.split())))
                pending = ""
    return found


def fenced_blocks(text: str, language: str) -> list[tuple[int, str]]:
    """(line number, body) of every ```language block."""
    pattern = rf"^```{language}\n(.*?)^```"
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in re.finditer(pattern, text, re.S | re.M)]


# the checks: each returns its problems, "line N: ..." ------------------------------------------------------


def command_problems(text: str, tree: Tree | None = None) -> list[str]:
    """`athbench ...` commands (also `gate --pack`-style spans), their options, and lone `--option` spans."""
    tree = tree or command_tree()
    every_option = set().union(*tree.values())
    snippets = code_snippets(text)
    foreign = {
        o.split("=")[0]
        for _, code in snippets
        if not re.search(r"(?<![\w./-])athbench\s", code) and not code.startswith("-")
        for o in code.split()
        if o.startswith("--")
    }
    problems: list[str] = []
    for number, code in snippets:
        tokens = code.split()
        if not tokens:
            continue
        if tokens[0] in children(tree, ("athbench",)) and len(tokens) > 1:
            follows = tokens[1].strip("[]()")
            if follows.startswith("--") or follows in children(tree, ("athbench", tokens[0])):
                tokens = ["athbench", *tokens]
        if tokens[0].startswith("--"):
            for option in (t.strip("[]()").split("=")[0] for t in tokens if t.strip("[]()").startswith("--")):
                if option not in every_option | foreign | set(FOREIGN_OPTIONS):
                    problems.append(f"line {number}: no athbench command has the option {option} (in `{code}`)")
            continue
        for start, token in enumerate(tokens):
            if token == "athbench" or token.endswith("/athbench"):
                problems += [f"line {number}: {p} (in `{code}`)" for p in _walk(tree, tokens[start + 1 :])]
        module = re.search(r"\bpython3? -m ((?:" + "|".join(PACKAGES) + r")[\w.]*)", code)
        if module:
            problems += [f"line {number}: {p}" for p in _module_options(module.group(1), tokens)]
    return problems


def _walk(tree: Tree, tokens: list[str]) -> list[str]:
    path: tuple[str, ...] = ("athbench",)
    alternative, positional = False, False
    for raw in tokens:
        token = raw.strip("[]()")
        if raw.startswith("#") or token in ("&&", ";", ">", "||") or raw.startswith("$("):
            break
        if token in ("|", "/"):
            alternative = True
            continue
        if token.startswith("-"):
            option = token.split("=")[0]
            if option not in tree[path]:
                return [f"{' '.join(path)} has no option {option}"]
        elif children(tree, path) and not positional:
            if token not in children(tree, path):
                return [f"{' '.join(path)} has no command {token!r}"]
            path = (*path, token)
        elif alternative and token in children(tree, path[:-1]):
            path = (*path[:-1], token)
        else:
            positional = not token.startswith("...")
        alternative = False
    return []


def _module_options(module: str, tokens: list[str]) -> list[str]:
    """`python -m repo_module --opt`: each option is spelt in the module's source (argparse) or is a
    parameter of one of its functions (typer: `--foo-bar` from `foo_bar`)."""
    source = _module_file(module)
    if source is None:
        return [f"no module {module} in the repository"]
    if source.name == "__init__.py":  # `python -m package` runs its __main__
        source = source.with_name("__main__.py")
    text = source.read_text()
    parameters = {
        a.arg for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef) for a in node.args.args
    }
    options = {t.split("=")[0] for t in tokens if t.startswith("--")}
    known = {o for o in options if f'"{o}"' in text or o[2:].replace("-", "_") in parameters}
    return [f"{module} has no option {o}" for o in sorted(options - known)]


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


# a scenario entry's fields in a results file: `db_query.details.pool` is a path into one, not a metric
ENTRY_FIELDS = ("params", "metrics", "timeseries", "details", "artifacts", "status", "reason", "profile")


def metric_problems(text: str) -> list[str]:
    """Every `scenario.metric` (a shipped scenario's name, a dot, a word) names a declared metric."""
    names = "|".join(sorted(available_scenarios(), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w/.])({names})\.(\w+)(?![\w(])")
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for scenario, metric in pattern.findall(line):
            if metric in ("py", "toml", "md") or metric in ENTRY_FIELDS:  # a file name; a path into a results file
                continue
            reason = undeclared_reason(f"{scenario}.{metric}")
            if reason:
                problems.append(f"line {number}: {scenario}.{metric}: {reason}")
    return problems


def path_problems(text: str) -> list[str]:
    """Every repository path (`harness/foo.py`, `scenarios/<name>.py`, `x.py:23`) exists (and has that line);
    a module named alone (`l1.py`) exists somewhere in the repository."""
    roots = "|".join(re.escape(r) for r in PATH_ROOTS)
    pattern = re.compile(rf"(?<![\w./-])((?:{roots})/[\w./<>*|-]*)(?::(\d+))?")
    problems = []
    for number, line in enumerate(text.replace("\\|", "|").splitlines(), start=1):
        for path, line_no in pattern.findall(line):
            path = path.rstrip(".")
            for candidate in _alternatives(re.sub(r"<[^>]*>", "*", path)):
                matches = list(ROOT.glob(candidate.rstrip("/"))) if "*" in candidate else [ROOT / candidate]
                if not any(m.exists() for m in matches):
                    problems.append(f"line {number}: no such file or directory {candidate}")
                elif line_no and len(matches[0].read_text().splitlines()) < int(line_no):
                    problems.append(f"line {number}: {candidate} has no line {line_no}")
        for name in re.findall(r"`(\w+\.(?:py|sql))`", line):  # a module named alone, e.g. in its package's section
            if not any(next(ROOT.glob(f"{root}/**/{name}"), None) for root in PATH_ROOTS):
                problems.append(f"line {number}: no file named {name} in the repository")
    return problems


def _alternatives(path: str) -> list[str]:
    """`packs/quick|nightly|release.toml` -> the three files (the last one's suffix shared)."""
    head, _, name = path.rpartition("/")
    if "|" not in name:
        return [path]
    names = name.split("|")
    suffix = Path(names[-1]).suffix
    return [f"{head}/{n if Path(n).suffix else n + suffix}" for n in names]


def dotted_name_problems(text: str) -> list[str]:
    """Every `harness.results.read`-style name in code resolves: module file, then a top-level name, then a
    class member (read from the source, nothing imported)."""
    roots = "|".join(PACKAGES)
    pattern = re.compile(rf"(?<![\w./-])((?:{roots})(?:[.:][A-Za-z_]\w*)+)")
    problems = []
    for number, code in code_snippets(text):
        for name in pattern.findall(code):
            reason = _unresolved(name.replace(":", "."))
            if reason:
                problems.append(f"line {number}: {name}: {reason}")
    return problems


def _unresolved(name: str) -> str | None:
    parts = [p for p in name.split(".") if not p.isupper()]  # NAME: a placeholder
    for split in range(len(parts), 0, -1):
        source = _module_file(".".join(parts[:split]))
        if source is not None:
            break
    else:
        return "no such module"
    rest = parts[split:]
    if not rest:
        return None
    scope: list[ast.stmt] = ast.parse(source.read_text()).body
    for attr in rest[:2]:
        defined = _defined(scope)
        if attr not in defined:
            return f"{source.relative_to(ROOT)} defines no {attr!r}"
        node = defined[attr]
        if not isinstance(node, ast.ClassDef):
            return None
        scope = node.body
    return None


def _defined(body: list[ast.stmt]) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
        elif isinstance(node, ast.Assign):
            names.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, (ast.If, ast.Try)):
            names.update(_defined(node.body))
    return names


# `ctx.x` in the docs is the scenario context's member x
ALIASES = {"ctx": "ScenarioContext"}


@functools.cache
def class_members(name: str) -> frozenset[str] | None:
    """The members of the repository's class `name` (methods, class attributes, dataclass fields, `self.x = ...`
    in its methods, and those of its bases defined here), read from the source; None when no class has it."""
    members: set[str] = set()
    found = False
    for source in _package_files():
        text = source.read_text()
        if f"class {name}(" not in text and f"class {name}:" not in text:
            continue
        for node in ast.walk(_parsed(source)):
            if not isinstance(node, ast.ClassDef) or node.name != name:
                continue
            found = True
            members.update(_defined(node.body))
            members.update(
                t.attr
                for t in ast.walk(node)
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
                if isinstance(t.ctx, ast.Store)
            )
            for base in node.bases:
                inherited = class_members(base.id) if isinstance(base, ast.Name) and base.id != name else None
                members.update(inherited or ())
    return frozenset(members) if found else None


@functools.cache
def _package_files() -> tuple[Path, ...]:
    return tuple(f for package in PACKAGES[:-2] for f in sorted((ROOT / package).rglob("*.py")))


@functools.cache
def _parsed(source: Path) -> ast.Module:
    return ast.parse(source.read_text())


def member_problems(text: str) -> list[str]:
    """Every `Class.member` (and `ctx.member`) in code, for a class defined in the repository, is a member."""
    problems = []
    for number, code in code_snippets(text):
        for owner, member in re.findall(r"(?<![\w.])([A-Z]\w*|ctx)\.([a-z_]\w*)", code):
            owner = ALIASES.get(owner, owner)
            members = class_members(owner)
            if members is not None and member not in members:
                problems.append(f"line {number}: {owner} has no member {member!r} (in `{code}`)")
    return problems


@functools.cache
def source_text() -> str:
    """The Python source of the repository's packages (not benchmarks/ or tests/), joined."""
    return "\n".join(f.read_text() for f in _package_files())


def env_var_problems(text: str) -> list[str]:
    """Every `ATHBENCH_*` variable (or `ATHBENCH_PREFIX_*` family) is spelt somewhere in the code."""
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for name in re.findall(r"\bATHBENCH_[A-Z0-9_]*[A-Z0-9]_?\*?", line):
            if name.rstrip("*") not in source_text():
                problems.append(f"line {number}: no code reads {name}")
    return problems


def pack_key_problems(text: str) -> list[str]:
    """Every ```toml block holding pack tables is (a part of) a valid pack; every `pack.KEY` / `[pack] KEY` in
    code is a known key."""
    problems = []
    for number, body in fenced_blocks(text, "toml"):
        raw = tomllib.loads(body)
        if set(raw) & set(TABLES):  # a pack or a part of one: completed with what it leaves out
            raw.setdefault("pack", {}).setdefault("name", "example")
            raw.setdefault("scenarios", {"api_latency": {}})
            try:
                parse_pack(raw, Path(f"example at line {number}"))
            except PackError as exc:
                problems.append(str(exc))
    for number, code in code_snippets(text):
        for key in re.findall(r"(?:^|\s)(?:\[pack\]\s+|pack\.)(\w+)", code):
            if key not in PACK_KEYS:
                problems.append(f"line {number}: {key!r} is not a [pack] key ({', '.join(PACK_KEYS)})")
    return problems


CHECKS = [
    command_problems,
    metric_problems,
    path_problems,
    dotted_name_problems,
    member_problems,
    env_var_problems,
    pack_key_problems,
]


# the docs as shipped ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_readme_and_docs_name_only_what_exists(check) -> None:
    problems = [f"{doc.relative_to(ROOT)} {p}" for doc in DOCS for p in check(doc.read_text())]
    assert not problems, "\n".join(problems)


# the checkers catch what they are for ------------------------------------------------------------------------

SYNTHETIC = """\
Run `athbench assess --pack quick --profile both`, or `athbench results list | show RUN`, or
`athbench compare / gate`, or `gate --pack` and `stack seed --properties N` with `--postgres-dsn`.

```sh
athbench gate --baseline a/ --candidate b/ \\
    --junit gate.xml  # the decision
python -m benchmarks.gate_quality --quick
```

The metric `api_latency.latency_p95_ms` is in `harness/packs.py`, `scenarios/packs/quick|nightly.toml`,
`scenarios/<name>.py` and `harness.results.Metric.from_samples`, through `ctx.record(...)` into
`LoadResult.traffic()`, with `ATHBENCH_REDIS_URL` and the `ATHBENCH_BACKUP_*` variables.

```toml
[pack]
name = "quick"
seed_properties = 1000
[scenarios.api_latency]
rate = 500
```
"""


def test_the_checkers_pass_a_true_text() -> None:
    assert [p for check in CHECKS for p in check(SYNTHETIC)] == []


@pytest.mark.parametrize(
    ("good", "bad", "check", "problem"),
    [
        ("--profile both", "--profiles both", command_problems, "athbench assess has no option --profiles"),
        ("| show RUN", "| shw RUN", command_problems, None),  # an unknown alternative ends the command
        ("athbench compare /", "athbench compare-runs /", command_problems, "athbench has no command 'compare-runs'"),
        ("`gate --pack`", "`gate --packs`", command_problems, "athbench gate has no option --packs"),
        ("seed --properties", "seed --property", command_problems, "athbench stack seed has no option --property"),
        ("`--postgres-dsn`", "`--postgres-url`", command_problems, "no athbench command has the option --postgres-url"),
        ("--junit gate.xml", "--junit-xml gate.xml", command_problems, "athbench gate has no option --junit-xml"),
        (
            "gate_quality --quick",
            "gate_quality --fast",
            command_problems,
            "benchmarks.gate_quality has no option --fast",
        ),
        ("latency_p95_ms`", "latency_p59_ms`", metric_problems, "api_latency declares no metric 'latency_p59_ms'"),
        ("`api_latency.", "`api_latenci.", metric_problems, None),  # not a scenario name: not a metric
        ("latency_p95_ms`", "details.latency`", metric_problems, None),  # a path into a results file
        ("harness/packs.py", "harness/pack.py", path_problems, "no such file or directory harness/pack.py"),
        ("quick|nightly.toml", "quick|nightlies.toml", path_problems, "scenarios/packs/nightlies.toml"),
        ("scenarios/<name>.py", "scenario/<name>.py", path_problems, None),  # not a repository directory
        ("`harness/packs.py`", "`packs.py`", path_problems, None),
        ("`harness/packs.py`", "`pack.py`", path_problems, "no file named pack.py in the repository"),
        ("Metric.from_samples", "Metric.from_sample", dotted_name_problems, "defines no 'from_sample'"),
        ("harness.results.", "harness.result.", dotted_name_problems, "harness/__init__.py defines no 'result'"),
        ("ctx.record", "ctx.recrd", member_problems, "ScenarioContext has no member 'recrd'"),
        ("LoadResult.traffic", "LoadResult.trafic", member_problems, "LoadResult has no member 'trafic'"),
        ("ATHBENCH_REDIS_URL", "ATHBENCH_REDIS_URI", env_var_problems, "no code reads ATHBENCH_REDIS_URI"),
        ("ATHBENCH_BACKUP_*", "ATHBENCH_BACKUPS_*", env_var_problems, "no code reads ATHBENCH_BACKUPS_*"),
        ("seed_properties = 1000", "repetitions = 3", pack_key_problems, "key 'pack.repetitions'"),
        ("rate = 500", "rps = 500", pack_key_problems, "key 'scenarios.api_latency.rps'"),
    ],
)
def test_the_checkers_catch_a_made_up_name(good: str, bad: str, check, problem: str | None) -> None:
    assert good in SYNTHETIC
    problems = check(SYNTHETIC.replace(good, bad, 1))
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_a_line_number_beyond_the_file_is_caught() -> None:
    assert path_problems("`harness/packs.py:1`") == []
    assert path_problems("`harness/packs.py:100000`") == ["line 1: harness/packs.py has no line 100000"]


def test_a_part_of_a_pack_is_checked_too() -> None:
    assert pack_key_problems('```toml\n[targets]\n"api_latency.latency_p95_ms" = 100\n```\n') == []
    problems = pack_key_problems('```toml\n[targets]\n"api_latency.latency_p59_ms" = 100\n```\n')
    assert len(problems) == 1 and "targets.api_latency.latency_p59_ms" in problems[0]


def test_a_pack_key_named_in_prose_must_be_known() -> None:
    assert pack_key_problems("the `[pack] seed_properties` key") == []
    assert pack_key_problems("set `pack.repetitions`") == [
        f"line 1: 'repetitions' is not a [pack] key ({', '.join(PACK_KEYS)})"
    ]
