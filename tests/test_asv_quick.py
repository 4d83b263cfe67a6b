"""asv in the existing environment: a quick run of one cheap benchmark stores a result; publish makes HTML."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = "bench_cache.L1CacheSuite.time_get_hit"


def _load_conf() -> dict:
    """asv.conf.json allows // comments; strip whole-line ones like asv's own loader."""
    lines = [line for line in (ROOT / "asv.conf.json").read_text().splitlines() if not line.lstrip().startswith("//")]
    return json.loads("\n".join(lines))


def _asv(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asv", "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="asv needs git")
def test_quick_run_in_existing_environment_and_publish(tmp_path: Path) -> None:
    conf = _load_conf()
    assert conf["benchmark_dir"] == "benchmarks" and conf["environment_type"] == "virtualenv"
    conf.update(
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
        env_dir=str(tmp_path / "env"),
    )
    config = tmp_path / "asv.conf.json"
    config.write_text(json.dumps(conf))

    machine = _asv("machine", "--yes", config=config)
    assert machine.returncode == 0, machine.stderr
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip("the repository has no commit yet: asv results are stored per commit")
    # An existing environment stores results only when told which commit they belong to.
    args = ["--python=same", "--quick", "--set-commit-hash", head.stdout.strip(), "--bench", f"^{BENCHMARK}$"]
    run = _asv("run", *args, "--show-stderr", config=config)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "time_get_hit" in run.stdout and "failed" not in run.stdout

    stored_files = (tmp_path / "results").rglob("*.json")
    result_files = [p for p in stored_files if p.name not in ("machine.json", "benchmarks.json")]
    assert len(result_files) == 1
    stored = json.loads(result_files[0].read_text())
    value = stored["results"][BENCHMARK][0][0]
    assert isinstance(value, float) and 0 < value < 1e-2  # seconds per L1 get, measured

    publish = _asv("publish", config=config)
    assert publish.returncode == 0, publish.stdout + publish.stderr
    index = tmp_path / "html" / "index.html"
    assert index.exists() and "airspeed velocity" in index.read_text().lower()
    assert (tmp_path / "html" / "graphs").is_dir()
