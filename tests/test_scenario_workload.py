"""The standard endpoint mix: templates over every seeded row, shares, writes, spread, and a PATCH in it
invalidating what it changes (against the real stack)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.load import ClosedPlan, LoadResult, run_load
from harness.load.recorder import EndpointRecorder
from harness.load.result import EndpointResult
from harness.seeded import SeededData
from harness.stack import Stack
from harness.workload import (
    INSULATION,
    MIX_DEFAULTS,
    MIX_SHARES,
    READ_SHARES,
    by_kind,
    describe_mix,
    endpoint_mix,
    mix_options,
    neighbourhood_slugs,
    percentile_spectrum,
    users_for,
)
from tests.scenario_support import SMALL_SEED, small_stack

ADMIN = {"Authorization": "Bearer test"}


def test_mix_is_one_template_per_kind_over_every_row() -> None:
    mix = {e.name: e for e in endpoint_mix(200_000, admin_headers=ADMIN)}
    assert set(mix) == {*MIX_SHARES, "property_patch", "assessment_post"}
    assert sum(e.weight for e in mix.values()) == pytest.approx(1.0)
    assert mix["property_patch"].weight == pytest.approx(MIX_DEFAULTS["write_share_patch"])
    assert mix["assessment_post"].weight == pytest.approx(MIX_DEFAULTS["write_share_post"])
    reads = 1.0 - MIX_DEFAULTS["write_share_patch"] - MIX_DEFAULTS["write_share_post"]
    for kind, share in MIX_SHARES.items():  # the reads keep today's shares among themselves
        assert mix[kind].weight == pytest.approx(share * reads)
    zipf = {"dist": "zipf", "min": 1, "max": 200_000, "s": 0.99}
    for kind in ("energy_assessment", "market_comparison", "price_prediction", "property_patch"):
        assert mix[kind].params["id"] == zipf
    assert mix["portfolio_overview"].params["user"]["max"] == users_for(200_000)
    assert sorted(mix["market_comparison"].params["slug"]["choice"]) == sorted(neighbourhood_slugs())
    patch = mix["property_patch"]
    assert patch.method == "PATCH" and patch.headers == ADMIN
    assert mix["assessment_post"].method == "POST"
    # bounded histogram keys: the names are the kinds, never concrete URLs
    assert all(e.template is not None for e in mix.values())


def test_writes_send_valid_varied_bodies() -> None:
    mix = {e.name: e for e in endpoint_mix(1_000, admin_headers=ADMIN)}
    stream = mix["property_patch"].template.stream(seed=1)
    bodies = [stream.next()[2] for _ in range(200)]
    assert {b["insulation"] for b in bodies} == set(INSULATION)  # not all identical
    assert all(set(b) == {"insulation", "windows"} for b in bodies)
    post = mix["assessment_post"].template.stream(seed=1).next()[2]
    from system_under_test.api.models import BuildingIn

    BuildingIn(**post)  # the POST body passes the service's own schema


def test_mix_options_and_read_only_mix() -> None:
    options = mix_options({**MIX_DEFAULTS, "rate": 1.0})
    assert options == MIX_DEFAULTS
    reads = endpoint_mix(2_000, kinds=READ_SHARES, write_share_patch=0.0, write_share_post=0.0, zipf_s=1.2)
    assert {e.name for e in reads} == set(READ_SHARES)
    assert reads[0].params["id"]["s"] == 1.2
    described = describe_mix(reads)
    assert described["populations"] == {"properties": 2_000, "users": users_for(2_000)}
    assert described["kinds"]["energy_assessment"]["share"] == pytest.approx(0.75)


def test_bad_mix_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="properties >= 1"):
        endpoint_mix(properties=0, admin_headers=ADMIN)
    with pytest.raises(ValueError, match="unknown request kinds"):
        endpoint_mix(properties=10, kinds={"checkout": 1.0}, admin_headers=ADMIN)
    with pytest.raises(ValueError, match="admin token"):
        endpoint_mix(properties=10)
    with pytest.raises(ValueError, match="write shares"):
        endpoint_mix(properties=10, admin_headers=ADMIN, write_share_patch=0.6, write_share_post=0.5)
    with pytest.raises(ValueError, match="zipf_s"):
        endpoint_mix(properties=10, admin_headers=ADMIN, zipf_s=0.0)


def test_mix_requests_are_spread_over_the_database() -> None:
    """5,000 energy assessments over 200,000 properties reach thousands of ids (the old mix: 2 to 25)."""
    (assessments,) = [e for e in endpoint_mix(200_000, admin_headers=ADMIN) if e.name == "energy_assessment"]
    stream = assessments.template.stream(seed=7)
    for _ in range(5_000):
        stream.next()
    sent = stream.summary()["sent"]["id"]
    assert sent["requests"] == 5_000
    assert sent["distinct_values"] >= 0.4 * 5_000, sent


def test_by_kind_merges_by_name_prefix() -> None:
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


# ------------------------------------------------------------------------------------------ real stack
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with small_stack(tmp_path_factory.mktemp("workload-stack"), upstream=False) as running:
        yield running


def admin(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token}"}


def test_seeded_ids_are_contiguous_from_one(stack: Stack) -> None:
    """The mix draws ids 1..N: the seed writes exactly those."""
    data = SeededData(stack.postgres_dsn, stack.seed_report)
    assert data.properties == SMALL_SEED and data.users == users_for(SMALL_SEED)
    assert data.property_ids == list(range(1, SMALL_SEED + 1))
    assert data.user_ids == list(range(1, data.users + 1))
    assert SeededData(stack.postgres_dsn).properties == SMALL_SEED  # counted when there is no seed report


def one_property_load(stack: Stack, tmp_path: Path, patch_share: float) -> LoadResult:
    """Reads of property 1's assessment, with `patch_share` of PATCHes to property 1 among them."""
    mix = endpoint_mix(
        1,
        users=1,
        admin_headers=admin(stack),
        kinds={"energy_assessment": 1.0},
        write_share_patch=patch_share,
        write_share_post=0.0,
    )
    return run_load(stack.service_url, ClosedPlan(users=2, duration_s=1.5), endpoints=mix, warmup_s=0.5,
                    work_dir=tmp_path / f"patch-{patch_share}")  # fmt: skip


def test_patch_in_the_mix_invalidates_what_it_changes(stack: Stack, tmp_path: Path) -> None:
    stack.start_service("optimized")
    url = f"{stack.service_url}/api/v1/properties/1/energy-assessment"
    # read-only: after the warm-up every read of the one property is a hit
    reads = one_property_load(stack, tmp_path, 0.0).endpoints["energy_assessment"]
    assert reads.error_count == 0 and reads.by_cache["HIT"].count > 0
    assert "MISS" not in reads.by_cache
    # with PATCHes of it in the mix, reads after a PATCH miss: the write invalidated the cached answer
    load = one_property_load(stack, tmp_path, 0.2)
    patches, reads = load.endpoints["property_patch"], load.endpoints["energy_assessment"]
    assert patches.count > 0 and patches.error_count == 0
    assert reads.error_count == 0 and reads.by_cache["MISS"].count > 0
    assert load.templates["property_patch"]["sent"]["id"]["distinct_values"] == 1
    # and the read after a PATCH sees the new value, from a miss
    with httpx.Client(timeout=10) as client:
        client.get(url)  # fills the cache (the load may have ended with a PATCH)
        before = client.get(url)
        assert before.headers["x-cache"] == "HIT"
        current = before.json()["property"]["insulation"]
        new = next(v for v in INSULATION if v != current)
        client.patch(f"{stack.service_url}/api/v1/properties/1", json={"insulation": new}, headers=admin(stack))
        after = client.get(url)
        assert after.headers["x-cache"] == "MISS"
        assert after.json()["property"]["insulation"] == new


def test_full_mix_against_the_service_is_spread_and_error_free(stack: Stack, tmp_path: Path) -> None:
    mix = endpoint_mix(SMALL_SEED, admin_headers=admin(stack), write_share_patch=0.05, write_share_post=0.05)
    load = run_load(stack.service_url, ClosedPlan(users=4, duration_s=2.0), endpoints=mix, warmup_s=0.5,
                    work_dir=tmp_path / "mix")  # fmt: skip
    assert load.overall.count > 0
    assert load.overall.error_rate == 0, load.overall.errors  # writes included: every body is valid
    sent = load.templates["energy_assessment"]["sent"]["id"]
    assert sent["distinct_values"] >= 0.3 * sent["requests"], sent
    assert load.traffic()["cache"]["hit_ratio"] is not None
