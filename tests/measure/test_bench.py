"""The benchmark works: `python -m qa bench --quick` measures every section and writes JSON and a plot.

Asserts structure (every figure present, positive, ordered percentiles), never timings:
speed is published by the full run (benchmarks/README.md), not checked by tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.measure import cli as measure_cli

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def quick(tmp_path_factory, embedder):
    """One quick run for the module (in-process, reusing the session's model)."""
    tmp = tmp_path_factory.mktemp("bench")
    out, png = tmp / "results.json", tmp / "growth.png"
    args = measure_cli.parser("bench").parse_args(
        ["--quick", "--sizes", "40,150", "--work", str(tmp / "work"), "--out", str(out), "--plot", str(png)]
    )
    assert args.func(args) == 0
    return json.loads(out.read_text()), png


def check_latency(lat: dict, n: int) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        v = lat[mode]
        assert v["n"] == n
        assert 0 < v["p50"] <= v["p95"] <= v["p99"] <= v["max"]


def test_seed_section_has_every_measure(quick):
    r, _ = quick
    s = r["seed"]
    fb = s["full_build"]
    assert fb["counts"]["chunks"] > 0 and fb["counts"]["sentences"] > 0
    assert fb["build_s"]["p50"] > 0 and fb["chunks_per_s"] > 0 and fb["encode_s"]["p50"] > 0
    assert fb["index_bytes"] > 0 and fb["peak_rss_mb"]["p50"] > 0
    inc = s["incremental"]
    assert inc["rebuild_s"]["n"] == 2 and inc["rebuild_s"]["p50"] > 0
    # an edit to one document re-embeds only its new text, not the whole collection
    total = fb["counts"]["chunks"] + fb["counts"]["sentences"]
    assert all(0 < n < total for n in inc["embedded_per_rebuild"])
    assert s["cold_start"]["seconds"]["p50"] > 0 and s["cold_start"]["peak_rss_mb"]["p50"] > 0
    q = s["query"]
    check_latency(q["latency_ms"], q["questions"] * q["reps"])
    assert q["rss_mb"]["with_index"] > 0


def test_growth_section_grows_and_switches_index_type(quick):
    r, png = quick
    rows = r["growth"]["sizes"]
    assert len(rows) == 2
    assert rows[0]["chunks"] < rows[1]["chunks"]
    # quick mode lowers the approximate-index threshold to 100 chunks: the small collection is exact, the larger IVF
    assert [row["dense_index"] for row in rows] == ["flat", "ivf"]
    for row in rows:
        assert row["build_s_cold"] >= row["encode_s_cold"] > 0
        assert row["index_bytes"] > 0 and row["query_peak_rss_mb"] > 0
        check_latency(row["latency_ms"], row["queries_per_mode"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_approximate_index_recall_is_measured_against_exact(quick):
    r, _ = quick
    h = r["ann"]
    assert h["vectors"] == r["growth"]["sizes"][-1]["chunks"]
    built = h["built_index"]
    assert built["type"] == "ivf" and 1 <= built["nprobe"] <= built["nlist"]
    assert 0 < built["recall@10"] <= 1 and 0 < built["score_recall@10"] <= 1
    sweep = h["ivf_sweep"]
    assert [x["nprobe"] for x in sweep] == sorted(x["nprobe"] for x in sweep)
    # probing every cell is exhaustive: the measurement must then find the exact neighbours (up to equal scores)
    assert sweep[-1]["nprobe"] == built["nlist"] and sweep[-1]["score_recall@10"] == 1.0
    for row in h["hnsw_sweep"]:
        assert 0 < row["recall@10"] <= 1 and row["ms_per_query_k100"] > 0
    assert [x["vectors"] for x in h["flat_by_size"]] == sorted(x["vectors"] for x in h["flat_by_size"])


def test_filtered_search_on_the_approximate_index_is_exact(quick, tmp_path_factory, embedder):
    """A search limited to some documents of an IVF-indexed collection ranks exactly their chunks, by cosine."""
    import numpy as np

    from qa import Engine

    r, _ = quick
    row = r["growth"]["sizes"][-1]
    build = Path(row["build_path"])
    engine = Engine(corpus=build.parent.parent.parent / "growth-corpus", index_dir=build.parent.parent,
                    embedder=embedder, build="never")
    assert engine.status()["dense_index"]["type"] == "ivf"
    sources = sorted(engine.index.by_source)[:2]
    allowed = np.sort(np.concatenate([engine.index.by_source[s] for s in sources]))
    qvec = engine.retriever.embed_query("Why is collaboration harder than competition?")
    got = engine.retriever.first_stage.dense_candidates(qvec, sources, depth=5)
    vecs = engine.index.dense.reconstruct_batch(allowed)
    want = allowed[np.argsort(-(vecs @ qvec), kind="stable")[:5]]
    assert list(got) == list(want)
    hits = engine.search("Why is collaboration harder than competition?", k=5, sources=sources)
    assert hits and {h.chunk.source for h in hits} <= set(sources)


def test_chunking_and_build_rate_sections_measure_every_row(quick):
    r, _ = quick
    rows = r["chunking"]["rows"]
    assert [x["name"] for x in rows] == ["seeds", "one 0.05 MB text", "one 0.2 MB text"]
    for x in rows:
        assert x["chunks"] > 0 and x["chunk_mb_per_s"] > 0 and x["load_mb_per_s"] > 0 and x["peak_rss_mb"] > 0
    assert 0.15 < rows[2]["mb"] < 0.25 and rows[2]["chunks"] > rows[1]["chunks"]
    short, seeds = r["build_rate"]["rows"]
    assert short["documents"] == 20 and seeds["documents"] == 3
    for x in (short, seeds):
        assert x["docs_per_s"] > 0 and x["build_s"] >= x["encode_s"] > 0 and x["s_per_mb"] > 0


def test_the_scale_table_shows_each_way_of_building_with_its_rate_per_worker():
    from qa.measure import scale

    counts = {"documents": 400, "chunks": 700}
    rows = [{"name": "one process", "workers": 0, "counts": counts, "startup_s": 6.0, "build_s": 50.0, "peak_rss_mb": 900.0},
            {"name": "Ray, 2 local node(s)", "workers": 2, "counts": counts, "startup_s": 20.0, "build_s": 40.0,
             "peak_rss_mb": 600.0, "node_lines": ["embedding on Ray: node aaaaaaaa (1 worker(s)): 5 at 0.5/s",
                                                  "embedding on Ray: node aaaaaaaa (1 worker(s)): 10 at 1.0/s"]}]
    for r in rows:
        r["docs_per_s"] = r["counts"]["documents"] / r["build_s"]
        r["docs_per_s_per_worker"] = r["docs_per_s"] / r["workers"] if r["workers"] else None
    text = "\n".join(scale.render({"documents": 400, "mb": 0.4, "cpus_per_node": 1, "rows": rows}))
    assert "| one process | - | 400 | 700 | 6.0 | 50.0 | 8.00 | - | 900 |" in text
    assert "| Ray, 2 local node(s) | 2 | 400 | 700 | 20.0 | 40.0 | 10.00 | 5.00 | 600 |" in text
    assert "- Ray, 2 local node(s): embedding on Ray: node aaaaaaaa (1 worker(s)): 10 at 1.0/s" in text
    assert "5 at 0.5/s" not in text, "a stage's totals only: its last line"


def test_the_stores_section_answers_from_a_milvus_server_and_measures_both_processes(tmp_path, embedder):
    """`--quick --sections stores`: 40 chunks, local and a Milvus Lite server of its own, 4 questions each; the
    server's memory is watched during the publish and the questions, and it is stopped cleanly at the end."""
    from qa.measure import scale

    out = tmp_path / "stores.json"
    args = measure_cli.parser("bench").parse_args(
        ["--quick", "--sections", "stores", "--work", str(tmp_path / "work"), "--out", str(out)])
    assert args.func(args) == 0
    st = json.loads(out.read_text())["stores"]
    local, server = st["rows"]
    assert (local["store"], server["store"]) == ("local", "milvus-server")
    assert local["chunks"] == server["chunks"] > 0 and local["publish_s"] is None and server["publish_s"] > 0
    for x in (local, server):
        assert x["latency_ms"]["n"] == 4 and x["open_s"] > 0 and x["rss_open_mb"] > 0 and x["anon_rss_end_mb"] > 0
    v = server["server"]
    assert v["stop"] == "clean" and v["start_s"] > 0 and v["data_bytes_published"] > 0
    assert 0 < v["idle"]["rss_mb"] <= v["publish"]["rss_max_mb"] <= v["publish"]["peak_mb"]
    assert v["publish"]["hwm_mb"] <= v["queries"]["hwm_mb"]  # the kernel's, since the server started
    assert v["queries"]["rss_max_mb"] <= v["queries"]["peak_mb"] and v["queries"]["samples"] > 0
    assert v["publish"]["cpu_s"] > 0 and v["queries"]["cpu_s"] > 0  # it did the work: rows written, searches answered
    text = "\n".join(scale.render_stores(st))
    assert f"| milvus-server | {server['chunks']:,} |" in text and "| clean (" in text
