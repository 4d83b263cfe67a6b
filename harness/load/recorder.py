"""Per-endpoint latency recording in HdrHistograms at microsecond resolution.

Two histograms per endpoint are kept side by side:

* ``corrected``: from the request's *scheduled* start time to the end of the response (open model only).
  A server stall delays every request scheduled during it, so the stall shows in these percentiles
  (coordinated-omission corrected, as wrk2 does). Every request due in the measured window counts:
  one that timed out enters at max(timeout, time waited since due), one never sent or still in flight
  when the drain ends at (drain end - due time). Those are lower bounds of their latency (*censored*
  entries), counted per endpoint as ``timed_out``, ``unsent`` and ``incomplete``; the smallest of them
  (``censored_min_us``) says which percentiles they can have pulled down (`EndpointRecorder.exact_at`).
* ``uncorrected``: from the moment the request was actually sent to the end of the response, for
  answered requests only (any HTTP status): the record of what the service answered, kept beside.

Only requests that belong to the measured window (after the warm-up) are recorded. Every finished
request also lands in a per-second histogram (2 significant digits) of the primary latency (corrected
when there is a schedule, else uncorrected), from which the time series are built (by completion time,
so unsent and incomplete requests are not in them).

When a response carries ``X-Cache: HIT``, ``MISS`` or ``STALE`` (as CDNs, Varnish and the service under
test mark cacheable responses), the request is also recorded in its endpoint's ``by_cache[value]``
recorder, so the latency of hits and misses is reported apart; the share of HIT among them is the
measured window's hit ratio (`cache_status` reads the header).

A `Recorder` encodes to a JSON-friendly dict (`to_dict`) and merges exactly (`merge`), which is how
histograms from distributed workers are combined on the master.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
SECOND_DIGITS = 2
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)

ERROR_KINDS = ("http_4xx", "http_5xx", "http_other", "connection_error", "timeout", "other")


def new_histogram(digits: int = SIGNIFICANT_DIGITS) -> HdrHistogram:
    """An empty latency histogram in microseconds (1 us .. 1 h)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, digits)


def record_us(histogram: HdrHistogram, value_us: float) -> None:
    """Record a latency, clamped into the histogram's range."""
    histogram.record_value(min(max(round(value_us), LOWEST_US), HIGHEST_US))


def encode(histogram: HdrHistogram) -> str:
    """Compressed base64 text of a histogram (the standard HdrHistogram encoding)."""
    return histogram.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    """Inverse of `encode`."""
    return HdrHistogram.decode(text.encode("ascii"))


def summarize(histogram: HdrHistogram) -> dict[str, float] | None:
    """Percentiles, mean and max in milliseconds, or None for an empty histogram."""
    if histogram.get_total_count() == 0:
        return None
    # hdrh's own percentile and mean walk every one of the ~17,000 counters in Python (about 0.3 s per
    # histogram); the same figures from the non-zero counters only, with hdrh's own rules for each value
    counts = np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]
    recorded = np.flatnonzero(counts)
    cumulative = np.cumsum(counts[recorded])
    summary = {}
    for p in PERCENTILES:
        index = int(recorded[np.searchsorted(cumulative, histogram.get_target_count_at_percentile(p))])
        value = histogram.get_highest_equivalent_value(histogram.get_value_from_index(index))
        summary[f"p{_label(p)}_ms"] = value / 1000.0
    summary["max_ms"] = histogram.get_max_value() / 1000.0
    total = sum(
        int(counts[i]) * histogram._hdr_median_equiv_value(histogram.get_value_from_index(int(i))) for i in recorded
    )
    summary["mean_ms"] = total / histogram.get_total_count() / 1000.0
    return summary


def _label(percentile: float) -> str:
    return f"{percentile:g}".replace(".", "")  # 99.9 -> "999"


def classify_error(status_code: int | None, exception: BaseException | None) -> str | None:
    """Error kind of a finished request, or None when it succeeded.

    HTTP statuses >= 400 are grouped by class. Transport errors are classified through their wrapping
    (geventhttpclient raises ``RetriesExceeded(original=...)``; chained causes are followed too):
    a timeout anywhere in the chain is ``timeout``, then a refused/reset connection ``connection_error``.
    """
    if status_code and status_code >= 400:
        return "http_4xx" if status_code < 500 else "http_5xx" if status_code < 600 else "http_other"
    if exception is None:
        return None
    chain = _exception_chain(exception)
    if any(isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower() for e in chain):
        return "timeout"
    if any(_is_connection_error(e) for e in chain):
        return "connection_error"
    if status_code and status_code < 400:
        return None  # e.g. a 3xx that Locust flagged; not an error for us
    return "other"


def _exception_chain(exception: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exception
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        original = getattr(current, "original", None)
        current = original if isinstance(original, BaseException) else current.__cause__ or current.__context__
    return chain


def _is_connection_error(exception: BaseException) -> bool:
    if isinstance(exception, ConnectionError | socket.gaierror) or "connection" in type(exception).__name__.lower():
        return True
    return isinstance(exception, OSError) and exception.errno in {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EPIPE,
        errno.ECONNABORTED,
    }


CENSORED_KINDS = ("unsent", "incomplete", "timed_out")
CACHE_HEADER = "X-Cache"
CACHE_VALUES = ("HIT", "MISS", "STALE")  # STALE: served expired because the live load failed


def cache_status(response: Any) -> str | None:
    """``HIT``, ``MISS`` or ``STALE`` from a response's X-Cache header (its first word, any case: "Hit from
    cloudfront" is a HIT), None when absent or anything else."""
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get(CACHE_HEADER)
    if not value:
        return None
    word = str(value).split(maxsplit=1)[0].upper() if str(value).strip() else ""
    return word if word in CACHE_VALUES else None


@dataclass
class EndpointRecorder:
    """Histograms and counters of one endpoint (or of all endpoints together).

    ``count`` and ``errors`` are finished requests (answered or failed, timeouts included); ``unsent``
    and ``incomplete`` never finished and are only in ``corrected``, at their lower bound.
    """

    corrected: HdrHistogram = field(default_factory=new_histogram)
    uncorrected: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    unsent: int = 0
    incomplete: int = 0
    timed_out: int = 0
    censored_min_us: int | None = None  # smallest lower bound entered into ``corrected``
    by_cache: dict[str, EndpointRecorder] = field(default_factory=dict)  # answered requests per X-Cache value

    def record(
        self, uncorrected_us: float | None, corrected_us: float | None, error: str | None, timed_out: bool = False
    ) -> None:
        """Count one finished request; latencies are recorded when given. A ``timed_out`` request's
        corrected latency (if any) is a lower bound."""
        self.count += 1
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1
        if uncorrected_us is not None:
            record_us(self.uncorrected, uncorrected_us)
        if timed_out:
            self.timed_out += 1
        if corrected_us is not None:
            record_us(self.corrected, corrected_us)
            if timed_out:
                self._censor(corrected_us)

    def record_unfinished(self, kind: str, corrected_us: float | None) -> None:
        """Count a request due in the window that never finished (``unsent`` or ``incomplete``), at its
        lower bound in ``corrected`` (None under the closed model, which has no schedule: counted only)."""
        if kind == "unsent":
            self.unsent += 1
        elif kind == "incomplete":
            self.incomplete += 1
        else:
            raise ValueError(f"unknown unfinished kind {kind!r}")
        if corrected_us is not None:
            record_us(self.corrected, corrected_us)
            self._censor(corrected_us)

    def _censor(self, value_us: float) -> None:
        value = min(max(round(value_us), LOWEST_US), HIGHEST_US)
        self.censored_min_us = value if self.censored_min_us is None else min(self.censored_min_us, value)

    @property
    def censored(self) -> int:
        """Requests whose latency is only known from below (timed out, unsent, incomplete)."""
        return self.unsent + self.incomplete + self.timed_out

    def exact_at(self, histogram: HdrHistogram, percentile: float) -> bool:
        """Whether ``histogram``'s value at ``percentile`` is exact: no request whose true latency is
        unknown lies at or below it (one that does could be slower, which would raise the percentile).
        For ``corrected`` that is the censored entries; ``uncorrected`` leaves timed-out, unsent and
        incomplete requests out altogether, so any of them makes its percentiles lower bounds."""
        if histogram is self.uncorrected:
            return self.censored == 0
        if self.censored_min_us is None:
            return True
        if histogram.get_total_count() == 0:
            return False
        return self.censored_min_us > histogram.get_value_at_percentile(percentile)

    def cache(self, status: str) -> EndpointRecorder:
        """The recorder of this endpoint's responses marked ``X-Cache: status``."""
        recorder = self.by_cache.get(status)
        if recorder is None:
            recorder = self.by_cache[status] = EndpointRecorder()
        return recorder

    def merge(self, other: EndpointRecorder) -> None:
        """Add another recorder's counts (exact)."""
        self.corrected.add(other.corrected)
        self.uncorrected.add(other.uncorrected)
        self.count += other.count
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        self.unsent += other.unsent
        self.incomplete += other.incomplete
        self.timed_out += other.timed_out
        if other.censored_min_us is not None:
            self._censor(other.censored_min_us)
        for status, recorder in other.by_cache.items():
            self.cache(status).merge(recorder)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "count": self.count,
            "errors": dict(self.errors),
            "unsent": self.unsent,
            "incomplete": self.incomplete,
            "timed_out": self.timed_out,
            "censored_min_us": self.censored_min_us,
            "corrected": encode(self.corrected),
            "uncorrected": encode(self.uncorrected),
        }
        if self.by_cache:
            out["by_cache"] = {status: r.to_dict() for status, r in sorted(self.by_cache.items())}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointRecorder:
        censored_min = data.get("censored_min_us")
        return cls(
            corrected=decode(data["corrected"]),
            uncorrected=decode(data["uncorrected"]),
            count=int(data["count"]),
            errors={str(k): int(v) for k, v in data["errors"].items()},
            unsent=int(data.get("unsent", 0)),
            incomplete=int(data.get("incomplete", 0)),
            timed_out=int(data.get("timed_out", 0)),
            censored_min_us=int(censored_min) if censored_min is not None else None,
            by_cache={str(s): cls.from_dict(d) for s, d in (data.get("by_cache") or {}).items()},
        )


@dataclass
class SecondBucket:
    """What finished during one second of the measured window."""

    latency: HdrHistogram = field(default_factory=lambda: new_histogram(SECOND_DIGITS))
    count: int = 0
    errors: int = 0

    def merge(self, other: SecondBucket) -> None:
        self.latency.add(other.latency)
        self.count += other.count
        self.errors += other.errors


class Recorder:
    """Everything one load process measured: per-endpoint histograms, per-second buckets, lags."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointRecorder] = {}
        self.seconds: dict[int, SecondBucket] = {}
        self.schedule_lag = new_histogram()  # send time - scheduled time, every open-model request
        self.dispatch_lag = new_histogram()  # wake-up delay of idle users (the generator's own lateness)
        self.loop_lag = new_histogram()  # overshoot of a 10 ms sleep in the generator's event loop
        self.scheduled = 0  # requests due inside the measured window (open model)

    def endpoint(self, name: str) -> EndpointRecorder:
        recorder = self.endpoints.get(name)
        if recorder is None:
            recorder = self.endpoints[name] = EndpointRecorder()
        return recorder

    def record(
        self,
        name: str,
        second: int,
        uncorrected_us: float | None,
        corrected_us: float | None,
        error: str | None,
        timed_out: bool = False,
        cache: str | None = None,
    ) -> None:
        """Record one finished request that belongs to the measured window (see `EndpointRecorder.record`);
        ``cache`` is its X-Cache status (``HIT``/``MISS``), if it carried one."""
        endpoint = self.endpoint(name)
        endpoint.record(uncorrected_us, corrected_us, error, timed_out)
        if cache is not None:
            endpoint.cache(cache).record(uncorrected_us, corrected_us, error, timed_out)
        bucket = self.seconds.get(second)
        if bucket is None:
            bucket = self.seconds[second] = SecondBucket()
        bucket.count += 1
        if error is not None:
            bucket.errors += 1
        primary = corrected_us if corrected_us is not None else uncorrected_us
        if primary is not None:
            record_us(bucket.latency, primary)

    def record_unfinished(self, name: str, kind: str, corrected_us: float | None) -> None:
        """Count a request of the measured window that never finished (see `EndpointRecorder.record_unfinished`)."""
        self.endpoint(name).record_unfinished(kind, corrected_us)

    @property
    def unsent(self) -> int:
        """Requests due in the window but never sent before the drain ended."""
        return sum(r.unsent for r in self.endpoints.values())

    @property
    def incomplete(self) -> int:
        """Requests of the window still in flight when the drain ended."""
        return sum(r.incomplete for r in self.endpoints.values())

    def overall(self) -> EndpointRecorder:
        """All endpoints merged."""
        total = EndpointRecorder()
        for recorder in self.endpoints.values():
            total.merge(recorder)
        return total

    def merge(self, other: Recorder) -> None:
        """Add another recorder (e.g. a worker's) exactly."""
        for name, recorder in other.endpoints.items():
            self.endpoint(name).merge(recorder)
        for second, bucket in other.seconds.items():
            self.seconds.setdefault(second, SecondBucket()).merge(bucket)
        self.schedule_lag.add(other.schedule_lag)
        self.dispatch_lag.add(other.dispatch_lag)
        self.loop_lag.add(other.loop_lag)
        self.scheduled += other.scheduled

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoints": {name: r.to_dict() for name, r in self.endpoints.items()},
            "seconds": {
                str(s): {"count": b.count, "errors": b.errors, "latency": encode(b.latency)}
                for s, b in sorted(self.seconds.items())
            },
            "schedule_lag": encode(self.schedule_lag),
            "dispatch_lag": encode(self.dispatch_lag),
            "loop_lag": encode(self.loop_lag),
            "scheduled": self.scheduled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recorder:
        recorder = cls()
        recorder.endpoints = {n: EndpointRecorder.from_dict(d) for n, d in data["endpoints"].items()}
        recorder.seconds = {
            int(s): SecondBucket(latency=decode(b["latency"]), count=int(b["count"]), errors=int(b["errors"]))
            for s, b in data["seconds"].items()
        }
        recorder.schedule_lag = decode(data["schedule_lag"])
        recorder.dispatch_lag = decode(data["dispatch_lag"])
        recorder.loop_lag = decode(data["loop_lag"])
        recorder.scheduled = int(data["scheduled"])
        return recorder
