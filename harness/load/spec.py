"""What one load phase should do, as passed from the harness to the load process (JSON).

Endpoints travel as `Endpoint.to_dict` dicts (templates with their ``params``, CSV paths absolute) and are
parsed again in every load process; ``seed`` seeds their request streams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.affinity import check_cpus
from harness.load.endpoints import Endpoint, endpoints_from_dicts
from harness.load.plan import ClosedPlan, OpenPlan, plan_from_dict


@dataclass(frozen=True)
class LoadSpec:
    """A load phase: target, plan, what to request and the validity tolerances."""

    target_url: str
    plan: ClosedPlan | OpenPlan
    endpoints: tuple[Endpoint, ...] = ()
    locustfile: str | None = None
    warmup_s: float = 2.0
    drain_s: float = 5.0
    request_timeout_s: float = 10.0
    workers: int = 1
    lag_tolerance_ms: float = 50.0
    max_unsent_fraction: float = 0.01
    cpu_limit_percent: float = 90.0
    cpu_affinity: tuple[int, ...] | None = None
    seed: int = 0  # request templates' streams: same seed, same requests (per worker, disjoint)
    master: str | None = None  # HOST:PORT to bind and wait there for `workers` workers started elsewhere
    join_timeout_s: float = 60.0  # how long that master waits for them

    def __post_init__(self) -> None:
        if not self.target_url.startswith(("http://", "https://")):
            raise ValueError(f"target_url must be an http(s) URL, got {self.target_url!r}")
        if bool(self.endpoints) == bool(self.locustfile):
            raise ValueError("give either endpoints or a locustfile (exactly one)")
        if self.locustfile and isinstance(self.plan, OpenPlan):
            raise ValueError("a locustfile runs under the closed model only; use an endpoint list for an open plan")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.plan.users < self.workers:
            raise ValueError(f"plan has {self.plan.users} users for {self.workers} workers; need >= 1 per worker")
        if self.cpu_affinity is not None:
            check_cpus(self.cpu_affinity)
        if self.master is not None:
            parse_address(self.master)
        if self.join_timeout_s <= 0:
            raise ValueError(f"join_timeout_s must be > 0, got {self.join_timeout_s}")
        if self.warmup_s < 0 or self.drain_s < 0 or self.request_timeout_s <= 0:
            raise ValueError("warmup_s and drain_s must be >= 0 and request_timeout_s > 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_url": self.target_url,
            "plan": self.plan.to_dict(),
            "endpoints": [e.to_dict() for e in self.endpoints],
            "locustfile": self.locustfile,
            "warmup_s": self.warmup_s,
            "drain_s": self.drain_s,
            "request_timeout_s": self.request_timeout_s,
            "workers": self.workers,
            "lag_tolerance_ms": self.lag_tolerance_ms,
            "max_unsent_fraction": self.max_unsent_fraction,
            "cpu_limit_percent": self.cpu_limit_percent,
            "cpu_affinity": list(self.cpu_affinity) if self.cpu_affinity is not None else None,
            "seed": self.seed,
            "master": self.master,
            "join_timeout_s": self.join_timeout_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSpec:
        affinity = data.get("cpu_affinity")
        return cls(
            target_url=data["target_url"],
            plan=plan_from_dict(data["plan"]),
            endpoints=tuple(endpoints_from_dicts(data["endpoints"])) if data["endpoints"] else (),
            locustfile=data["locustfile"],
            warmup_s=float(data["warmup_s"]),
            drain_s=float(data["drain_s"]),
            request_timeout_s=float(data["request_timeout_s"]),
            workers=int(data["workers"]),
            lag_tolerance_ms=float(data["lag_tolerance_ms"]),
            max_unsent_fraction=float(data["max_unsent_fraction"]),
            cpu_limit_percent=float(data["cpu_limit_percent"]),
            cpu_affinity=tuple(affinity) if affinity is not None else None,
            seed=int(data.get("seed", 0)),
            master=data.get("master"),
            join_timeout_s=float(data.get("join_timeout_s", 60.0)),
        )


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (a load master's address) -> (host, port), with a clear error for anything else."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT (e.g. 0.0.0.0:5557), not {address!r}")
    return host.strip("[]"), int(port)
