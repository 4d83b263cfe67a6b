"""Production artifacts the assessment recommends, generated from the service's real metric names.

- Kubernetes manifests: a Deployment with liveness on /health/live and readiness on /health/ready and the
  requests/limits of the original assessment (256Mi/100m requests, 512Mi/500m limits), a Service and a
  PodDisruptionBudget.
- Prometheus alert rules: p95 latency over the 100 ms target, memory over 256 MB, a circuit breaker open,
  the newest verified backup older than the RPO (1 h).
- A Grafana dashboard over the same metrics.
Every metric name used here is listed in METRICS, and a test checks each exists in the service's /metrics.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

APP = "athbench-service"
PORT = 8080
LATENCY_TARGET_S = 0.1
MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
RPO_SECONDS = 3600

P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(athbench_http_request_duration_seconds_bucket{route!~"/health.*|/metrics"}[5m])))'
)
METRIC_NAME = re.compile(r"\b((?:athbench|process)_[a-z_]+)")


def kubernetes(image: str = "athbench/service:latest", replicas: int = 2) -> str:
    """Deployment + Service + PodDisruptionBudget as one multi-document YAML."""
    labels = {"app.kubernetes.io/name": APP}
    probe = {"httpGet": {"port": PORT}, "timeoutSeconds": 2, "failureThreshold": 3}
    container = {
        "name": "service",
        "image": image,
        "args": ["uvicorn", "system_under_test.app:create_app", "--factory", "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [
            {"name": "ATHBENCH_PROFILE", "value": "optimized"},
            {"name": "ATHBENCH_HEALTH_INTERVAL", "value": "15"},
            {"name": "ATHBENCH_POSTGRES_DSN", "valueFrom": {"secretKeyRef": {"name": APP, "key": "postgres-dsn"}}},
            {"name": "ATHBENCH_REDIS_URL", "valueFrom": {"secretKeyRef": {"name": APP, "key": "redis-url"}}},
            {"name": "ATHBENCH_ADMIN_TOKEN", "valueFrom": {"secretKeyRef": {"name": APP, "key": "admin-token"}}},
        ],
        "resources": {
            "requests": {"memory": "256Mi", "cpu": "100m"},
            "limits": {"memory": "512Mi", "cpu": "500m"},
        },
        "livenessProbe": {
            **probe,
            "httpGet": {"path": "/health/live", "port": PORT},
            "initialDelaySeconds": 30,
            "periodSeconds": 15,
        },
        "readinessProbe": {
            **probe,
            "httpGet": {"path": "/health/ready", "port": PORT},
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
        },
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT)},
                },
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 30},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": APP, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": APP},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
    }
    return yaml.safe_dump_all([deployment, service, budget], sort_keys=False)


def prometheus_rules() -> str:
    """Alert rules on p95 latency, memory, breaker state and backup age."""
    rules = [
        _alert(
            "HighP95Latency",
            f"{P95} > {LATENCY_TARGET_S}",
            "5m",
            "warning",
            "API p95 latency {{ $value | humanizeDuration }} is over the 100 ms target",
        ),
        _alert(
            "HighMemory",
            f"process_resident_memory_bytes > {MEMORY_LIMIT_BYTES}",
            "10m",
            "warning",
            "Service RSS {{ $value | humanize1024 }}B is over 256 MiB",
        ),
        _alert(
            "CircuitBreakerOpen",
            "max by (name) (athbench_breaker_state) == 1",
            "1m",
            "critical",
            "Circuit breaker {{ $labels.name }} is open: a dependency is failing",
        ),
        _alert(
            "BackupTooOld",
            f"time() - athbench_backup_last_verified_timestamp_seconds > {RPO_SECONDS}",
            "5m",
            "critical",
            "The newest verified backup is older than the 1 h RPO",
        ),
        _alert(
            "ServerErrors",
            'sum(rate(athbench_http_request_duration_seconds_count{status_class="5xx"}[5m])) '
            "/ sum(rate(athbench_http_request_duration_seconds_count[5m])) > 0.01",
            "5m",
            "warning",
            "More than 1 % of requests fail with a server error",
        ),
    ]
    return yaml.safe_dump({"groups": [{"name": "athbench.performance", "rules": rules}]}, sort_keys=False)


def _alert(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def grafana_dashboard() -> str:
    """A Grafana dashboard (JSON model) over the service's metrics."""
    panels = [
        ("p95 latency by route", "timeseries", [
            "histogram_quantile(0.95, sum by (le, route) (rate(athbench_http_request_duration_seconds_bucket[5m])))"
        ], "s"),
        ("Requests per second by status", "timeseries", [
            "sum by (status_class) (rate(athbench_http_request_duration_seconds_count[1m]))"
        ], "reqps"),
        ("In-flight requests", "timeseries", ["sum(athbench_http_requests_in_flight)"], "short"),
        ("Event-loop lag (max)", "timeseries", ["max(athbench_event_loop_lag_max_seconds)"], "s"),
        ("Cache hit ratio by tier", "timeseries", [
            'sum by (tier) (rate(athbench_cache_requests_total{result="hit"}[5m])) '
            "/ sum by (tier) (rate(athbench_cache_requests_total[5m]))"
        ], "percentunit"),
        ("Breakers (0 closed, 1 open, 2 half-open)", "stat", ["max by (name) (athbench_breaker_state)"], "short"),
        ("DB pool in use / size", "timeseries", ["sum(athbench_db_pool_in_use)", "sum(athbench_db_pool_size)"], ""),
        ("Health round duration", "timeseries", [
            "histogram_quantile(0.95, sum by (le) (rate(athbench_health_round_duration_seconds_bucket[5m])))"
        ], "s"),
        ("Resident memory", "timeseries", ["process_resident_memory_bytes"], "bytes"),
        ("Backup age (newest verified)", "stat", ["time() - athbench_backup_last_verified_timestamp_seconds"], "s"),
    ]  # fmt: skip
    model = {
        "title": "athbench service performance",
        "uid": "athbench-service",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "panels": [
            {
                "id": i + 1,
                "title": title,
                "type": kind,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"refId": chr(65 + j), "expr": expr} for j, expr in enumerate(exprs)],
            }
            for i, (title, kind, exprs, unit) in enumerate(panels)
        ],
    }
    return json.dumps(model, indent=2)


def metric_names(text: str) -> set[str]:
    """Base metric names used in an artifact (histogram suffixes stripped)."""
    names = set()
    for name in METRIC_NAME.findall(text):
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        names.add(name)
    return names


ARTIFACTS = {
    "k8s": ("athbench-k8s.yaml", kubernetes),
    "prometheus-rules": ("athbench-alerts.yaml", prometheus_rules),
    "grafana": ("athbench-dashboard.json", grafana_dashboard),
}
