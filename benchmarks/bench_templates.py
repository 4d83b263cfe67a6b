"""Request templates (`harness.load.templates`): the per-request cost of filling one (target: <= 5 us).

`time_fill_path`: a path with one Zipf placeholder over 1,000,000 ids (the common case);
`time_fill_full`: path, query, a header and a nested JSON body from two sources. Block refills (one per
8,192 requests) are included, amortized, as the load generator meets them.
"""

from __future__ import annotations

from benchmarks import skip_if_missing

try:
    from harness.load.templates import RequestTemplate, template_from_endpoint

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc

ZIPF_IDS = {"dist": "zipf", "min": 1, "max": 1_000_000, "s": 0.99}


def path_template() -> RequestTemplate:
    return template_from_endpoint("item", "/api/v1/properties/{id}/energy-assessment", {}, None, {"id": ZIPF_IDS}, "b")


def full_template() -> RequestTemplate:
    return template_from_endpoint(
        "assess",
        "/api/v1/properties/{id}/assessments?user={user}",
        {"X-User": "{user}"},
        {"property": {"id": "{id}", "tags": ["user-{user}"]}},
        {"id": ZIPF_IDS, "user": {"dist": "uniform", "min": 1, "max": 5_000}},
        "b",
    )


class TemplateFillSuite:
    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.path_stream = path_template().stream(seed=1)
        self.full_stream = full_template().stream(seed=1)

    def time_fill_path(self) -> None:
        self.path_stream.next()

    def time_fill_full(self) -> None:
        self.full_stream.next()
