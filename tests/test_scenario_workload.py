"""The standard endpoint mix: shares, id ranges, determinism, and merging variants back per kind."""

from __future__ import annotations

import re

import pytest

from harness.load.recorder import EndpointRecorder
from harness.load.result import EndpointResult
from harness.workload import MIX_SHARES, by_kind, endpoint_mix, percentile_spectrum, users_for


def test_mix_shares_ids_and_determinism() -> None:
    mix = endpoint_mix(properties=2_000, variants=5, seed=3)
    assert len(mix) == 20
    assert sum(e.weight for e in mix) == pytest.approx(1.0)
    for kind, share in MIX_SHARES.items():
        assert sum(e.weight for e in mix if e.name.startswith(kind)) == pytest.approx(share)
    for endpoint in mix:
        number = int(endpoint.name.split(":")[1])
        limit = users_for(2_000) if endpoint.name.startswith("portfolio") else 2_000
        assert 1 <= number <= limit
        assert re.search(rf"/{number}/|property_id={number}$", endpoint.path)
    assert endpoint_mix(2_000, variants=5, seed=3) == mix
    assert endpoint_mix(2_000, variants=5, seed=4) != mix
    assert len(endpoint_mix(properties=3, variants=10)) == 3 * 3 + min(10, users_for(3))


def test_bad_mix_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="properties >= 1"):
        endpoint_mix(properties=0)
    with pytest.raises(ValueError, match="unknown request kinds"):
        endpoint_mix(properties=10, kinds={"checkout": 1.0})


def test_by_kind_merges_variants() -> None:
    results = {}
    for name, latencies in {"energy_assessment:1": [1000, 2000], "energy_assessment:2": [3000], "ping": [500]}.items():
        recorder = EndpointRecorder()
        for us in latencies:
            recorder.record(us, us, None)
        results[name] = EndpointResult.build(recorder, duration_s=1.0, corrected=True)
    kinds = by_kind(results, duration_s=1.0)
    assert set(kinds) == {"energy_assessment", "ping"}
    assert kinds["energy_assessment"]["count"] == 3
    assert kinds["energy_assessment"]["corrected"]["max_ms"] == pytest.approx(3.0, rel=0.01)
    spectrum = percentile_spectrum(results["energy_assessment:1"].histograms["corrected"])
    assert spectrum[0][0] == 0.0 and spectrum[-1][0] == 100.0
    assert [v for _, v in spectrum] == sorted(v for _, v in spectrum)
