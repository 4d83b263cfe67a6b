"""`athbench assess --target URL --endpoints FILE --seed N` with a templated endpoint file, against a
service athbench did not start: the template reaches the load process, its record and the X-Cache split
land in the results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.results import read
from harness.stack import Stack, StackConfig
from tests.sut_support import seeded_database

ENDPOINTS = """
[[endpoint]]
name = "assessment"
path = "/api/v1/properties/{id}/energy-assessment"
[endpoint.params]
id = { dist = "zipf", min = 1, max = 300, s = 0.99 }

[[endpoint]]
name = "overview"
path = "/api/v1/portfolios/{user}/overview"
weight = 0.5
[endpoint.params]
user = { csv = "users.csv", column = "user_id" }
"""
PACK = """
[pack]
name = "small-target"

[scenarios.target_latency]
rates = [30.0]
duration_s = 2.0
warmup_s = 0.5
"""


def test_assess_a_running_service_with_a_templated_endpoint_file(
    tmp_path: Path, postgres_dsn: str, redis_url: str
) -> None:
    (tmp_path / "endpoints.toml").write_text(ENDPOINTS)
    (tmp_path / "users.csv").write_text("user_id\n1\n2\n3\n")
    (tmp_path / "pack.toml").write_text(PACK)
    with seeded_database(postgres_dsn, 300) as (dsn, _):
        config = StackConfig(tmp_path / "foreign", postgres_dsn=dsn, redis_url=redis_url, upstream=False)
        with Stack(config) as foreign:
            done = subprocess.run(
                [sys.executable, "-m", "harness", "assess", "--target", foreign.service_url,
                 "--endpoints", str(tmp_path / "endpoints.toml"), "--pack", str(tmp_path / "pack.toml"),
                 "--output", str(tmp_path / "out"), "--seed", "7", "--format", "md"],
                capture_output=True,
                text=True,
                timeout=300,
            )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "out").iterdir()
    scenario = read(run_dir).scenario("target_latency", "target")
    assert scenario.status == "complete", scenario.reason
    traffic = [p["traffic"] for p in scenario.details["phases"]]
    assert traffic and all(t["seed"] == 7 for t in traffic)
    sent = traffic[0]["templates"]["assessment"]
    assert sent["sources"] == {"id": {"dist": "zipf", "min": 1, "max": 300, "s": 0.99}}
    assert 0 < sent["sent"]["id"]["distinct_values"] <= sent["requests"]
    users = traffic[0]["templates"]["overview"]["sent"]["user"]
    assert 1 <= users["distinct_values"] <= 3
    cache = traffic[0]["cache"]
    assert set(cache["endpoints"]) == {"assessment", "overview"}  # histograms by template name
    assert 0.0 <= cache["hit_ratio"] <= 1.0
