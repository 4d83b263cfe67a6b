"""Pack files: the shipped packs are valid and name declared metrics; bad ones name file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.packs import PACKS_DIR, PackError, declared_metrics, load_pack

GOOD_HEAD = '[pack]\nname = "t"\n\n[scenarios.api_latency]\nrate = 100.0\n'


@pytest.mark.parametrize("name", ["quick", "nightly", "release"])
def test_shipped_packs_load_and_target_declared_metrics(name: str) -> None:
    pack = load_pack(name)
    assert pack.name == name
    scenarios = {entry.scenario.name for entry in pack.entries}
    assert {"health_overhead", "memory_footprint", "api_latency", "capacity", "horizontal_scaling"} <= scenarios
    assert pack.targets["api_latency.latency_p95_ms"] == 100
    assert pack.targets["health_overhead.health_interval_s"] == 15
    unknown = set(pack.targets) - set(declared_metrics())
    assert not unknown, f"{name}: targets name undeclared metrics {sorted(unknown)}"


def test_packs_grow_from_quick_to_release() -> None:
    quick, nightly, release = (load_pack(n) for n in ("quick", "nightly", "release"))

    def param(pack, scenario: str, key: str):
        return next(e.params[key] for e in pack.entries if e.scenario.name == scenario)

    for scenario, key in [("api_latency", "repetitions"), ("memory_footprint", "soak_s"), ("capacity", "repetitions")]:
        assert param(quick, scenario, key) <= param(nightly, scenario, key) <= param(release, scenario, key)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (GOOD_HEAD + "rate = 'fast'\n", None, "not valid TOML"),
        (GOOD_HEAD.replace("rate = 100.0", 'rate = "fast"'), "scenarios.api_latency.rate", "a number"),
        (GOOD_HEAD.replace("rate = 100.0", "repetitions = 2.5"), "scenarios.api_latency.repetitions", "an integer"),
        (GOOD_HEAD.replace("rate = 100.0", "rps = 10"), "scenarios.api_latency.rps", "a parameter of api_latency"),
        (GOOD_HEAD + "\n[scenarios.no_such]\n", "scenarios.no_such", "a known scenario"),
        ('[pack]\ndescription = "x"\n[scenarios.api_latency]\n', "pack.name", "a string naming the pack"),
        (GOOD_HEAD.replace("[pack]\n", "[pack]\nrepetitions = 3\n"), "pack.repetitions", "one of the [pack] keys"),
        ('[pack]\nname = "t"\n', "scenarios", "at least one [scenarios.NAME] table"),
        (
            GOOD_HEAD + '\n[targets]\n"api_latency.latency_p95_ms" = "low"\n',
            "targets.api_latency.latency_p95_ms",
            "a number",
        ),
        (GOOD_HEAD + '\n[targets]\n"latency_p95_ms" = 100\n', "targets.latency_p95_ms", "scenario.metric"),
        (GOOD_HEAD + "\n[extras]\n", "extras", "one of the tables"),
    ],
)
def test_bad_pack_names_file_key_and_expectation(tmp_path: Path, text: str, key: str | None, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PackError) as error:
        load_pack(path)
    message = str(error.value)
    assert str(path) in message
    if key is not None:
        assert f"key {key!r}" in message
    assert expected in message


def test_unknown_pack_name_lists_the_packs() -> None:
    with pytest.raises(PackError, match="quick"):
        load_pack("no-such-pack")
    assert (PACKS_DIR / "quick.toml").exists()
