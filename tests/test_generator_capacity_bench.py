"""benchmarks.generator_capacity's summary: rates and ratios paired by round, intervals only from n = 6."""

from __future__ import annotations

from benchmarks.generator_capacity import summarize


def rounds(one: list[float], two: list[float], limit: str = "load generator") -> list[dict]:
    return [
        {1: {"rate_rps": a, "limited_by": limit}, 2: {"rate_rps": b, "limited_by": limit}}
        for a, b in zip(one, two, strict=True)
    ]


def test_ratios_pair_rounds_and_intervals_need_six() -> None:
    six = summarize(rounds([1000, 1100, 900, 1000, 1050, 950], [1900, 2000, 1800, 1700, 2100, 1900]), 2)
    assert six["ratio"]["values"][:2] == [1.9, 2000 / 1100]
    assert six["ratio"]["ci95"] is not None and six["ratio"]["generator_limited"]
    assert six["1"]["ci95"] == [900, 1100] and six["1"]["note"] is None
    three = summarize(rounds([1000, 1100, 900], [1500, 1600, 1400], limit="service"), 2)
    assert three["ratio"]["ci95"] is None and "n too small" in three["2"]["note"]
    assert not three["ratio"]["generator_limited"]  # the server was the limit: not the generator's scaling
