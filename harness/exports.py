"""Production artifacts the assessment recommends, generated from the service's real metric names.

- Kubernetes manifests: a Deployment with liveness on /health/live and readiness on /health/ready, its
  replicas, requests/limits and DB pool, a Service and a PodDisruptionBudget.
- Prometheus alert rules: p95 latency over the SLO, memory over its threshold, a circuit breaker open,
  the newest verified backup older than the RPO, 5xx errors, and multi-window burn-rate alerts on the
  availability SLO's error budget (Google SRE workbook, chapter 5).
- A Grafana dashboard over the same metrics, its thresholds drawn from the same numbers.
The numbers come from a `Sizing`: by default the original assessment's fixed values (2 replicas,
256Mi/100m requests, 512Mi/500m limits, 100 ms, 256 MiB, 1 h RPO, 99.9 %), or a run's capacity plan
(`sizing`, `athbench export --from RUN`). Every metric name used here is listed in
METRICS, and a test checks each exists in the service's /metrics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from reports.capacity_plan import Plan

APP = "athbench-service"
PORT = 8080
BURN_WINDOWS = (("1h", "5m", 14.4, "page"), ("6h", "30m", 6.0, "page"), ("3d", "6h", 1.0, "ticket"))


@dataclass(frozen=True)
class Sizing:
    """The numbers the artifacts carry (defaults: the original assessment's fixed values)."""

    replicas: int = 2
    cpu_request: str = "100m"
    cpu_limit: str = "500m"
    memory_request: str = "256Mi"
    memory_limit: str = "512Mi"
    db_pool_size: int | None = None  # None: the service's default
    latency_target_s: float = 0.1
    memory_alert_bytes: int = 256 * 1024 * 1024
    rpo_s: int = 3600
    availability: float = 0.999
    breaker_for: str = "1m"
    source: str = "fixed defaults of the original assessment"


def sizing(p: Plan, source: str) -> Sizing:
    """The numbers `athbench export` writes for a plan (a figure not derived keeps the fixed default)."""
    default = Sizing()

    def get(key: str, fallback: Any, make: Any) -> Any:
        value = p.value(key)
        return fallback if value is None else make(value)

    alerts = {a.name: a for a in p.alerts}
    return Sizing(
        replicas=get("pods", default.replicas, int),
        cpu_request=get("cpu_request", default.cpu_request, lambda v: f"{int(v)}m"),
        cpu_limit=get("cpu_limit", default.cpu_limit, lambda v: f"{int(v)}m"),
        memory_request=get("memory_request", default.memory_request, lambda v: f"{int(v)}Mi"),
        memory_limit=get("memory_limit", default.memory_limit, lambda v: f"{int(v)}Mi"),
        db_pool_size=get("pool", None, int),
        latency_target_s=alerts["HighP95Latency"].threshold,
        memory_alert_bytes=int(alerts["HighMemory"].threshold),
        rpo_s=int(alerts["BackupTooOld"].threshold),
        availability=p.target.availability,
        breaker_for=alerts["CircuitBreakerOpen"].for_,
        source=source,
    )


P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(athbench_http_request_duration_seconds_bucket{route!~"/health.*|/metrics"}[5m])))'
)
METRIC_NAME = re.compile(r"\b((?:athbench|process)_[a-z_]+)")


def _error_ratio(window: str) -> str:
    return (
        f'sum(rate(athbench_http_request_duration_seconds_count{{status_class="5xx"}}[{window}])) '
        f"/ sum(rate(athbench_http_request_duration_seconds_count[{window}]))"
    )


def kubernetes(image: str = "athbench/service:latest", sizing: Sizing | None = None) -> str:
    """Deployment + Service + PodDisruptionBudget as one multi-document YAML."""
    return yaml.safe_dump_all(kubernetes_documents(image, sizing), sort_keys=False)


def kubernetes_documents(image: str = "athbench/service:latest", sizing: Sizing | None = None) -> list[dict[str, Any]]:
    """The Kubernetes objects, in order (a caller may append more, e.g. load-generator workers)."""
    sizing = sizing or Sizing()
    pool = [] if sizing.db_pool_size is None else [{"name": "ATHBENCH_DB_POOL_SIZE", "value": str(sizing.db_pool_size)}]
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
            *pool,
        ],
        "resources": {
            "requests": {"memory": sizing.memory_request, "cpu": sizing.cpu_request},
            "limits": {"memory": sizing.memory_limit, "cpu": sizing.cpu_limit},
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
        "metadata": {"name": APP, "labels": labels, "annotations": {"athbench/sizing": sizing.source}},
        "spec": {
            "replicas": sizing.replicas,
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
        "spec": {"minAvailable": max(1, sizing.replicas - 1), "selector": {"matchLabels": labels}},
    }
    return [deployment, service, budget]


def prometheus_rules(sizing: Sizing | None = None) -> str:
    """Alert rules on p95 latency, memory, breaker state, backup age, errors and error-budget burn."""
    sizing = sizing or Sizing()
    budget = round(1.0 - sizing.availability, 12)
    rules = [
        _alert(
            "HighP95Latency",
            f"{P95} > {sizing.latency_target_s:g}",
            "5m",
            "warning",
            "API p95 latency {{ $value | humanizeDuration }} is over the "
            f"{sizing.latency_target_s * 1000:g} ms SLO",
        ),
        _alert(
            "HighMemory",
            f"process_resident_memory_bytes > {sizing.memory_alert_bytes}",
            "10m",
            "warning",
            f"Service RSS {{{{ $value | humanize1024 }}}}B is over {sizing.memory_alert_bytes / 1024**2:.0f} MiB",
        ),
        _alert(
            "CircuitBreakerOpen",
            "max by (name) (athbench_breaker_state) == 1",
            sizing.breaker_for,
            "critical",
            "Circuit breaker {{ $labels.name }} is open: a dependency is failing",
        ),
        _alert(
            "BackupTooOld",
            f"time() - athbench_backup_last_verified_timestamp_seconds > {sizing.rpo_s}",
            "5m",
            "critical",
            f"The newest verified backup is older than the {sizing.rpo_s / 3600:g} h RPO",
        ),
        _alert(
            "ServerErrors",
            f"{_error_ratio('5m')} > 0.01",
            "5m",
            "warning",
            "More than 1 % of requests fail with a server error",
        ),
    ]
    for long, short, burn, severity in BURN_WINDOWS:
        threshold = burn * budget
        rules.append(
            _alert(
                f"ErrorBudgetBurn{long}",
                f"({_error_ratio(long)}) > {threshold:.6g} and ({_error_ratio(short)}) > {threshold:.6g}",
                "2m" if severity == "page" else "15m",
                severity,
                f"Error budget of the {sizing.availability:.3%} SLO burning {burn:g}x over {long} and {short}",
            )
        )
    return yaml.safe_dump({"groups": [{"name": "athbench.performance", "rules": rules}]}, sort_keys=False)


def _alert(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def grafana_dashboard(sizing: Sizing | None = None) -> str:
    """A Grafana dashboard (JSON model) over the service's metrics, thresholds from the sizing."""
    sizing = sizing or Sizing()
    thresholds = {
        "p95 latency by route": sizing.latency_target_s,
        "Resident memory": sizing.memory_alert_bytes,
        "Backup age (newest verified)": sizing.rpo_s,
    }
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
        "description": f"thresholds: {sizing.source}",
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
                "fieldConfig": {"defaults": {"unit": unit, **_threshold(thresholds.get(title))}, "overrides": []},
                "targets": [{"refId": chr(65 + j), "expr": expr} for j, expr in enumerate(exprs)],
            }
            for i, (title, kind, exprs, unit) in enumerate(panels)
        ],
    }
    return json.dumps(model, indent=2)


def _threshold(value: float | None) -> dict[str, Any]:
    if value is None:
        return {}
    steps = [{"color": "green", "value": None}, {"color": "red", "value": value}]
    return {"thresholds": {"mode": "absolute", "steps": steps}, "custom": {"thresholdsStyle": {"mode": "line"}}}


def metric_names(text: str) -> set[str]:
    """Base metric names used in an artifact (histogram suffixes stripped)."""
    names = set()
    for name in METRIC_NAME.findall(text):
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        names.add(name)
    return names


ARTIFACTS = {  # kind -> (default file name, maker(sizing))
    "k8s": ("athbench-k8s.yaml", lambda sizing=None: kubernetes(sizing=sizing)),
    "prometheus-rules": ("athbench-alerts.yaml", prometheus_rules),
    "grafana": ("athbench-dashboard.json", grafana_dashboard),
}


LOAD_MASTER = "athbench-load-master"
LOAD_MASTER_PORT = 5557


def load_workers_kubernetes(workers: int, image: str = "athbench/harness:latest", port: int = LOAD_MASTER_PORT) -> str:
    """Load from several machines on Kubernetes: a Deployment of ``workers`` `athbench load-worker` pods
    (one Locust worker process, about one core, each) and the Service through which they reach the master.
    The master is the pod running `athbench assess ... --load-master 0.0.0.0:PORT --expect-workers N`,
    labelled ``app.kubernetes.io/name: athbench-load-master``."""
    if workers < 1:
        raise ValueError(f"--load-workers must be at least 1, not {workers}")
    master_labels = {"app.kubernetes.io/name": LOAD_MASTER}
    worker_labels = {"app.kubernetes.io/name": "athbench-load-worker"}
    container = {
        "name": "load-worker",
        "image": image,
        "args": ["athbench", "load-worker", "--master", f"{LOAD_MASTER}:{port}"],
        "resources": {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "athbench-load-worker", "labels": worker_labels},
        "spec": {
            "replicas": workers,
            "selector": {"matchLabels": worker_labels},
            "template": {"metadata": {"labels": worker_labels}, "spec": {"containers": [container]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": LOAD_MASTER, "labels": master_labels},
        "spec": {"selector": master_labels, "ports": [{"name": "locust", "port": port, "targetPort": port}]},
    }
    return yaml.safe_dump_all([deployment, service], sort_keys=False)
