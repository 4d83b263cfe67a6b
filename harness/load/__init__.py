"""Load generation with Locust used as a library, recorded in HdrHistograms.

Public API (none of it imports Locust or gevent; the load runs in its own process):
`run_load(target_url, plan, endpoints=... | locustfile=..., warmup_s=..., workers=...) -> LoadResult`,
plans `ClosedPlan` / `OpenPlan`, `Endpoint` and `load_endpoints` (TOML endpoint list; an endpoint with
`params` is a request template, see `harness.load.templates`).
"""

from harness.load.endpoints import Endpoint, load_endpoints
from harness.load.plan import ClosedPlan, OpenPlan, Segment
from harness.load.result import EndpointResult, LoadResult
from harness.load.runner import run_load

__all__ = [
    "ClosedPlan",
    "Endpoint",
    "EndpointResult",
    "LoadResult",
    "OpenPlan",
    "Segment",
    "load_endpoints",
    "run_load",
]
