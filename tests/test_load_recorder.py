"""Latency recording: HdrHistograms at microsecond resolution, error kinds, exact merge."""

from __future__ import annotations

import pytest

from harness.load.recorder import Recorder, classify_error, decode, summarize


def test_percentiles_are_microsecond_resolution() -> None:
    recorder = Recorder()
    for us in range(1, 1001):  # 1 us .. 1 ms
        recorder.record("GET /a", second=0, uncorrected_us=us, corrected_us=us + 500, error=None)
    endpoint = recorder.endpoints["GET /a"]
    unc, cor = summarize(endpoint.uncorrected), summarize(endpoint.corrected)
    assert unc is not None and cor is not None
    assert unc["p50_ms"] == pytest.approx(0.5, abs=0.001)
    assert unc["p99_ms"] == pytest.approx(0.99, abs=0.001)
    assert cor["p50_ms"] == pytest.approx(1.0, abs=0.002)
    assert unc["max_ms"] == pytest.approx(1.0, abs=0.001)


def test_merge_of_encoded_recorders_is_exact() -> None:
    parts = []
    for worker in range(3):
        recorder = Recorder()
        for i in range(100 + worker):
            error = "http_5xx" if i % 10 == 0 else None
            recorder.record("GET /a", second=i % 4, uncorrected_us=1000 + i * 7, corrected_us=2000 + i, error=error)
        recorder.record("GET /b", second=0, uncorrected_us=None, corrected_us=None, error="connection_error")
        recorder.scheduled = 110
        recorder.record_unfinished("GET /a", "unsent", corrected_us=5_000_000 + worker)
        parts.append(recorder)
    merged = Recorder()
    for part in parts:
        merged.merge(Recorder.from_dict(part.to_dict()))
    overall = merged.overall()
    assert overall.count == sum(p.overall().count for p in parts) == 306
    assert overall.uncorrected.get_total_count() == 303  # transport errors carry no latency
    assert overall.errors == {"http_5xx": 10 + 11 + 11, "connection_error": 3}
    assert sum(b.count for b in merged.seconds.values()) == 306
    assert (merged.scheduled, merged.unsent) == (330, 3)
    assert overall.corrected.get_total_count() == 303 + 3  # the unsent at their lower bound
    assert merged.endpoints["GET /a"].censored_min_us == 5_000_000
    reference = parts[0].endpoints["GET /a"].uncorrected
    for part in parts[1:]:
        reference.add(part.endpoints["GET /a"].uncorrected)
    assert decode(merged.to_dict()["endpoints"]["GET /a"]["uncorrected"]).equals(reference)


class ConnectionTimeout(Exception):
    """Stands for client libraries' own timeout classes (e.g. gevent's), recognised by name."""


class RetriesExceeded(Exception):
    """Like geventhttpclient's wrapper: the cause is in ``original``."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("retries exceeded")
        self.original = original


@pytest.mark.parametrize(
    ("status", "exception", "kind"),
    [
        (200, None, None),
        (404, Exception("404"), "http_4xx"),
        (503, Exception("503"), "http_5xx"),
        (0, ConnectionRefusedError(111, "refused"), "connection_error"),
        (0, ConnectionResetError(104, "reset"), "connection_error"),
        (0, ConnectionTimeout("timed out"), "timeout"),
        (0, TimeoutError(), "timeout"),
        (0, RetriesExceeded(TimeoutError("timed out")), "timeout"),
        (0, RetriesExceeded(ConnectionRefusedError(111, "refused")), "connection_error"),
        (0, ValueError("bad"), "other"),
    ],
)
def test_error_kinds(status: int, exception: BaseException | None, kind: str | None) -> None:
    assert classify_error(status, exception) == kind


@pytest.mark.parametrize("seed", range(6))
def test_summary_equals_hdrhistograms_own_walk(seed: int) -> None:
    """`summarize` reads only the non-zero counters; its figures are hdrh's own, value for value."""
    import numpy as np
    from hdrh.histogram import HdrHistogram

    from harness.load.recorder import PERCENTILES

    rng = np.random.default_rng(seed)
    histogram = HdrHistogram(1, 60_000_000, 3)
    size = int(rng.integers(1, 5000))
    for value in rng.lognormal(mean=8.0 + seed, sigma=1.0 + seed / 3, size=size).astype(int) + 1:
        histogram.record_value(int(min(value, 60_000_000)))
    summary = summarize(histogram)
    assert summary is not None
    expected = histogram.get_percentile_to_value_dict(list(PERCENTILES))
    for p in PERCENTILES:
        assert summary[f"p{f'{p:g}'.replace('.', '')}_ms"] == expected[p] / 1000.0
    assert summary["mean_ms"] == pytest.approx(histogram.get_mean_value() / 1000.0, rel=1e-12)
    assert summary["max_ms"] == histogram.get_max_value() / 1000.0
