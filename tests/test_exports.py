"""Production artifacts parse, and every metric they use exists in the running service's /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.exports import grafana_dashboard, kubernetes, metric_names, prometheus_rules
from harness.stack import Stack, StackConfig


def test_kubernetes_manifests_have_the_recommended_probes_and_resources() -> None:
    docs = list(yaml.safe_load_all(kubernetes()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "PodDisruptionBudget"]
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["resources"] == {
        "requests": {"memory": "256Mi", "cpu": "100m"},
        "limits": {"memory": "512Mi", "cpu": "500m"},
    }


def test_alert_rules_and_dashboard_parse() -> None:
    rules = yaml.safe_load(prometheus_rules())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"HighP95Latency", "HighMemory", "CircuitBreakerOpen", "BackupTooOld"}
    assert all(r["expr"] and r["labels"]["severity"] for r in rules)
    dashboard = json.loads(grafana_dashboard())
    assert dashboard["panels"] and all(p["targets"] for p in dashboard["panels"])


@pytest.mark.parametrize("kind", ["k8s", "prometheus-rules", "grafana"])
def test_export_command_writes_file(tmp_path: Path, kind: str) -> None:
    out = tmp_path / kind
    done = subprocess.run([sys.executable, "-m", "harness", "export", kind, "-o", str(out)], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text().strip()


def test_export_from_a_run_writes_its_capacity_plan(tmp_path: Path) -> None:
    from reports_fixtures import write_run
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.results import read
    from reports.capacity_plan import plan

    results = write_run(tmp_path / "run" / "results.json")
    out = tmp_path / "k8s.yaml"
    done = CliRunner().invoke(app, ["export", "k8s", "--from", str(results.parent), "-o", str(out)])
    assert done.exit_code == 0, done.output
    deployment = next(iter(yaml.safe_load_all(out.read_text())))
    expected = plan(read(results), "optimized")
    assert deployment["spec"]["replicas"] == expected.value("pods")
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == f"{expected.value('memory_limit')}Mi"
    missing = CliRunner().invoke(app, ["export", "k8s", "--from", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no such results file" in " ".join(missing.output.split())
    other = CliRunner().invoke(app, ["export", "k8s", "--from", str(results), "--profile", "fast"])
    assert other.exit_code == 2 and "no profile 'fast'" in " ".join(other.output.split())


def test_unknown_export_is_refused() -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "export", "helm"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown export 'helm'" in done.stdout


def test_every_metric_used_exists_in_the_service(tmp_path: Path) -> None:
    used = metric_names(prometheus_rules() + grafana_dashboard())
    assert "athbench_http_request_duration_seconds" in used
    with (
        Stack(StackConfig(tmp_path, seed_properties=1_000)) as stack,
        httpx.Client(base_url=stack.service_url, timeout=10) as client,
    ):
        for path in ("/api/v1/properties/1/energy-assessment", "/api/v1/portfolios/1/overview", "/health"):
            client.get(path)
        text = client.get("/metrics").text
    families = list(text_string_to_metric_families(text))
    exposed = {f.name for f in families} | {sample.name for f in families for sample in f.samples}
    missing = sorted(name for name in used if name not in exposed)
    assert not missing, f"metrics used by the exports but absent from /metrics: {missing}"
