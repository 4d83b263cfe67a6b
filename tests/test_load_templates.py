"""Request templates: sources, filling, reproducible and disjoint streams, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.templates import TemplateError, merge_summaries, parse_source, template_from_endpoint


def make(path: str, params: dict, headers: dict | None = None, body: object = None, base: Path | None = None):
    return template_from_endpoint("t", path, headers or {}, body, params, "endpoints.toml: endpoint 't'", base)


def test_fills_path_query_headers_and_json_at_any_depth() -> None:
    tpl = make(
        "/items/{id}.json?user={u}&raw={{x}}",
        {"id": {"dist": "sequence", "min": 7, "max": 9}, "u": {"choice": ["ann"]}},
        headers={"X-User": "u-{u}"},
        body={"item": {"ids": ["{id}", "id {id}"]}, "{u}": 1},
    )
    path, headers, body = tpl.stream().next()
    assert path == "/items/7.json?user=ann&raw={x}"
    assert headers == {"X-User": "u-ann"}
    assert body == {"item": {"ids": [7, "id 7"]}, "ann": 1}  # a whole "{id}" keeps the value's type


def test_uniform_stream_over_a_large_range_is_spread() -> None:
    n = 20_000
    stream = make("/p/{id}", {"id": {"dist": "uniform", "min": 1, "max": 1_000_000}}).stream(seed=3)
    paths = {stream.next()[0] for _ in range(n)}
    assert len(paths) >= 0.9 * n
    summary = stream.summary()["sent"]["id"]
    assert summary["requests"] == n and summary["distinct_values"] == len(paths)


@pytest.mark.parametrize("s", [0.99, 0.7])
def test_zipf_hot_share_matches_theory_and_hot_keys_are_scattered(s: float) -> None:
    tpl = make("/p/{id}", {"id": {"dist": "zipf", "min": 1, "max": 100_000, "s": s}})
    stream = tpl.stream(seed=1)
    values = [int(stream.next()[0].rsplit("/", 1)[1]) for _ in range(100_000)]
    share = stream.summary()["sent"]["id"]["top_1pct_share"]
    theory = tpl.sources["id"].zipf_top_share()
    assert abs(share - theory) <= 0.1 * theory, (share, theory)
    # the hottest values are not the lowest ids
    from collections import Counter

    hottest = [v for v, _ in Counter(values).most_common(100)]
    assert sum(v <= 1_000 for v in hottest) < 20
    assert min(values) >= 1 and max(values) <= 100_000


def test_same_seed_same_stream_and_workers_draw_disjoint_streams() -> None:
    tpl = make("/p/{id}", {"id": {"dist": "uniform", "min": 1, "max": 10**9}})
    a, b = tpl.stream(seed=5), tpl.stream(seed=5)
    assert [a.next() for _ in range(50)] == [b.next() for _ in range(50)]
    w0, w1 = tpl.stream(seed=5, worker=0, workers=2), tpl.stream(seed=5, worker=1, workers=2)
    assert not {w0.next()[0] for _ in range(500)} & {w1.next()[0] for _ in range(500)}
    seq = make("/p/{id}", {"id": {"dist": "sequence", "min": 1, "max": 10}})
    s0, s1 = seq.stream(worker=0, workers=2), seq.stream(worker=1, workers=2)
    assert [s0.next()[0] for _ in range(6)] == ["/p/1", "/p/3", "/p/5", "/p/7", "/p/9", "/p/1"]
    assert [s1.next()[0] for _ in range(5)] == ["/p/2", "/p/4", "/p/6", "/p/8", "/p/10"]


def test_worker_summaries_merge_exactly() -> None:
    tpl = make("/c/{c}", {"c": {"choice": ["a", "b", "c", "d"], "weights": [1, 1, 1, 5]}})
    streams = [tpl.stream(seed=2, worker=i, workers=2) for i in range(2)]
    sent = [s.next()[0] for s in streams for _ in range(3_000)]
    merged = merge_summaries([s.summary(with_counts=True) for s in streams], {"c": 4})
    assert merged["requests"] == 6_000
    assert merged["sent"]["c"]["distinct_values"] == 4
    assert merged["sent"]["c"]["top_1pct_share"] == pytest.approx(sent.count("/c/d") / 6_000)
    assert 0.55 < merged["sent"]["c"]["top_1pct_share"] < 0.7  # weight 5 of 8


def test_csv_source_random_and_sequential(tmp_path: Path) -> None:
    (tmp_path / "ids.csv").write_text("id,name\n10,a\n20,b\n30,c\n")
    seq = make("/p/{id}", {"id": {"csv": "ids.csv", "column": "id", "order": "sequential"}}, base=tmp_path)
    stream = seq.stream()
    assert [stream.next()[0] for _ in range(4)] == ["/p/10", "/p/20", "/p/30", "/p/10"]
    rnd = make("/n/{n}", {"n": {"csv": "ids.csv", "column": "name"}}, base=tmp_path).stream(seed=1)
    assert {rnd.next()[0] for _ in range(200)} == {"/n/a", "/n/b", "/n/c"}


@pytest.mark.parametrize(
    ("params", "path", "message"),
    [
        ({"id": {"dist": "pareto", "min": 1, "max": 2}}, "/p/{id}", "unknown distribution 'pareto'"),
        ({"id": {"dist": "uniform", "min": 5, "max": 2}}, "/p/{id}", "min (5) > max (2)"),
        ({}, "/p/{id}", "placeholder(s) ['id'] have no source"),
        ({"id": {"dist": "uniform", "min": 1, "max": 2}, "x": {"choice": [1]}}, "/p/{id}", "['x'] are used by no"),
        ({"id": {"csv": "missing.csv"}}, "/p/{id}", "missing.csv not found"),
        ({"id": {"csv": "ids.csv", "column": "nope"}}, "/p/{id}", "has no column 'nope'"),
        ({"id": {"dist": "zipf", "min": 1, "max": 9, "s": 0}}, "/p/{id}", "zipf s must be > 0"),
        ({"id": {"choice": [1, 2], "weights": [1]}}, "/p/{id}", "'weights' must be 2 positive numbers"),
        ({"id": {"dist": "uniform", "min": 1}}, "/p/{id}", "needs 'max'"),
        ({"id": {"dist": "uniform", "min": 1, "max": 3, "mean": 2}}, "/p/{id}", "unknown keys ['mean']"),
    ],
)
def test_bad_templates_fail_naming_file_endpoint_and_problem(
    tmp_path: Path, params: dict, path: str, message: str
) -> None:
    (tmp_path / "ids.csv").write_text("id\n1\n")
    with pytest.raises(TemplateError) as err:
        make(path, params, base=tmp_path)
    assert message in str(err.value)
    assert "endpoints.toml: endpoint 't'" in str(err.value)


def test_sources_describe_themselves_for_the_record() -> None:
    assert parse_source({"dist": "zipf", "min": 1, "max": 10}, "x").describe() == {
        "dist": "zipf",
        "min": 1,
        "max": 10,
        "s": 0.99,
    }
