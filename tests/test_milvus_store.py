"""The Milvus store against the local one, in embedded Milvus Lite under tmp_path (no server, no network, no model)."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

try:
    import milvus_lite  # noqa: F401
    import pymilvus  # noqa: F401
except ImportError as e:  # fail, never skip: a missing extra must not pass for a green run
    raise ImportError(f"tests/test_milvus_store.py needs the milvus extra ({e.name} is missing): run `make install` "
                      "or `pip install -e '.[milvus]'`.") from e

from qa import Engine, milvus_store, store
from qa.config import StoreSettings
from qa.errors import IndexMissingError
from qa.late import TokenIndex
from qa.options import storage_from_args
from qa.retrieve import Retriever
from tests.fakes import FakeEmbedder, model_free_settings

QUESTIONS = [
    "When did the Thames Barrier start protecting London?",
    "How often should adult cats be fed?",
    "How much money went to road repairs?",
    "When should roses be pruned?",
    "Which sea does the river reach?",
]


@pytest.fixture
def milvus(tmp_path):
    """A Milvus Lite database file of this test's own; its embedded server is stopped afterwards."""
    settings = StoreSettings(kind="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    yield settings
    milvus_store.close(settings.milvus_uri)


def engines(corpus, tmp_path, milvus, emb=None):
    emb = emb or FakeEmbedder()
    local = Engine(corpus=corpus, index_dir=tmp_path / "local", embedder=emb, settings=model_free_settings())
    remote = Engine(corpus=corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    return local, remote


def test_milvus_finds_the_same_passages_as_the_local_store(tiny_corpus, tmp_path, milvus):
    local, remote = engines(tiny_corpus, tmp_path, milvus)
    assert remote.index.first_stage is not None and remote.index.dense is None  # really answered by Milvus
    assert [c.id for c in remote.index.chunks] == [c.id for c in local.index.chunks]
    assert np.array_equal(remote.index.sentences, local.index.sentences)
    for q in QUESTIONS:
        for mode in ("hybrid", "dense", "bm25"):
            a, b = local.search(q, k=4, mode=mode), remote.search(q, k=4, mode=mode)
            assert [h.row for h in b] == [h.row for h in a], (q, mode)
            for x, y in zip(a, b):
                if x.dense is not None:
                    assert y.dense == pytest.approx(x.dense, abs=1e-6)
                if x.bm25 is not None:
                    # Milvus scores BM25 with the (k1 + 1) factor that bm25s's "lucene" variant leaves out: k1 = 1.5
                    assert y.bm25 == pytest.approx((1.5 + 1) * x.bm25, rel=1e-4)
        la, ra = local.ask(q, k=2), remote.ask(q, k=2)
        assert [p.citation for p in ra.passages] == [p.citation for p in la.passages]
        assert ra.build == store.load(tmp_path / "mv").manifest["build"]  # the local build the collections were written from


def test_a_document_filter_is_a_milvus_filter(tiny_corpus, tmp_path, milvus):
    local, remote = engines(tiny_corpus, tmp_path, milvus)
    q = "Thames London: are cats fed by the council?"
    unfiltered = {h.chunk.source for h in remote.search(q, k=10, mode="bm25")}
    assert "rivers.md" in unfiltered
    for mode in ("dense", "bm25", "hybrid"):
        hits = remote.search(q, k=10, mode=mode, sources=["cats.txt", "budget.txt"])
        assert hits and {h.chunk.source for h in hits} <= {"cats.txt", "budget.txt"}
        assert [h.row for h in hits] == [h.row for h in local.search(q, k=10, mode=mode, sources=["cats.txt", "budget.txt"])]
    stage = remote.index.first_stage
    qvec = remote.retriever.embed_query(q)
    rows = stage.dense_candidates(qvec, ["page.html"], depth=10)
    assert len(rows) and {remote.index.chunks[r].source for r in rows} == {"page.html"}


def test_a_rebuild_after_an_edit_and_a_removal_replaces_the_collections(tiny_corpus, tmp_path, milvus):
    emb = FakeEmbedder()
    _, first = engines(tiny_corpus, tmp_path, milvus, emb)
    old_build = first.index.manifest["build"]
    assert "budget.txt" in first.index.docs
    (tiny_corpus / "budget.txt").unlink()
    (tiny_corpus / "cats.txt").write_text("Cats\n\nKittens need four small meals a day until six months old.\n", encoding="utf-8")
    again = Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    assert again.index.manifest["build"] != old_build
    assert "budget.txt" not in again.index.docs
    hits = again.search("How much money went to road repairs?", k=10)
    assert hits and all(h.chunk.source != "budget.txt" for h in hits)
    assert again.search("How many meals do kittens need?", k=1, mode="bm25")[0].chunk.text.startswith("Kittens need four")
    with pytest.raises(Exception, match="budget.txt"):
        again.search("road repairs", sources=["budget.txt"])
    c = milvus_store.client(milvus.milvus_uri)
    assert milvus_store.current_build(c, milvus) == again.index.manifest["build"]
    assert c.has_collection(milvus_store.names(milvus, old_build)["chunks"])  # the one before is kept (KEEP_BUILDS = 2)


def test_a_build_that_fails_midway_leaves_the_previous_collections_answering(tiny_corpus, tmp_path, milvus, monkeypatch):
    emb = FakeEmbedder()
    _, first = engines(tiny_corpus, tmp_path, milvus, emb)
    live = first.index.manifest["build"]
    (tiny_corpus / "rivers.md").unlink()
    real_insert = milvus_store._insert

    def insert_then_die(c, name, rows):
        if name.endswith("_records"):  # chunks, sentences written; the records never are
            raise RuntimeError("killed midway")
        return real_insert(c, name, rows)

    monkeypatch.setattr(milvus_store, "_insert", insert_then_die)
    with pytest.raises(RuntimeError, match="killed midway"):
        Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    c = milvus_store.client(milvus.milvus_uri)
    new_build = store.load(tmp_path / "mv").manifest["build"]  # the local build went through
    assert new_build != live and c.has_collection(milvus_store.names(milvus, new_build)["chunks"])  # half written
    assert milvus_store.current_build(c, milvus) == live
    still = milvus_store.load(milvus)
    assert "rivers.md" in still.docs
    # what is live still answers (an Engine would call it stale and rebuild; the retriever reads it as it is)
    hits = Retriever(still, emb, first.settings.retrieval, first.settings.index).search("Thames Barrier London", k=1)
    assert hits[0].chunk.source == "rivers.md"
    monkeypatch.setattr(milvus_store, "_insert", real_insert)
    healed = Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    assert "rivers.md" not in healed.index.docs
    assert milvus_store.current_build(c, milvus) == healed.index.manifest["build"]


def test_a_reopened_milvus_loads_its_released_collections(tiny_corpus, tmp_path, milvus):
    """A new process finds every collection of a Milvus Lite file released; reading must load them first."""
    _, remote = engines(tiny_corpus, tmp_path, milvus)
    c = milvus_store.client(milvus.milvus_uri)
    for name in c.list_collections():
        c.release_collection(name)
    again = Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=FakeEmbedder(), settings=model_free_settings(),
                   storage=milvus, build="never")
    assert again.index.manifest["build"] == remote.index.manifest["build"]
    assert again.search("Thames Barrier", k=1, mode="bm25")[0].chunk.source == "rivers.md"


def test_token_vectors_round_trip_through_milvus(tiny_corpus, tmp_path, milvus):
    """ColBERT token vectors (made up here: the real ones need the model) come back as the local store holds them."""
    Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=FakeEmbedder(), settings=model_free_settings())
    local = store.load(tmp_path / "mv")
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 6, size=len(local.chunks))
    lengths[1] = 0  # a chunk with no token
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vecs = rng.normal(size=(offsets[-1], 8)).astype(np.float16)
    spans = rng.integers(0, 100, size=(offsets[-1], 2)).astype(np.int64)
    manifest = dict(local.manifest, counts=dict(local.manifest["counts"], late_tokens=int(offsets[-1])))
    milvus_store.publish(milvus, dataclasses.replace(local, late=TokenIndex(vecs, offsets, spans), manifest=manifest))
    got = milvus_store.load(milvus).late
    assert np.array_equal(got.offsets, offsets) and np.array_equal(got.spans, spans)
    assert np.array_equal(got.vectors, vecs.astype(np.float32))  # float16 -> float32 -> float16 is exact


def test_no_index_in_milvus_says_how_to_build_one(milvus):
    with pytest.raises(IndexMissingError, match="qa index --store milvus"):
        milvus_store.load(milvus)


def test_a_missing_client_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(milvus_store.MilvusUnavailableError, match=r"pip install -e '\.\[milvus\]'"):
        milvus_store.client(str(tmp_path / "none.db"))
    monkeypatch.delitem(sys.modules, "pymilvus")
    monkeypatch.setitem(sys.modules, "milvus_lite", None)
    with pytest.raises(milvus_store.MilvusUnavailableError, match="milvus-lite is not installed"):
        milvus_store.client(str(tmp_path / "none.db"))


def test_store_settings_and_options():
    import argparse

    from qa.options import add_store_options

    p = argparse.ArgumentParser()
    add_store_options(p)
    assert storage_from_args(p.parse_args([])) == StoreSettings()
    assert storage_from_args(p.parse_args(["--milvus-uri", "x.db"])) == StoreSettings(kind="milvus", milvus_uri="x.db")
    with pytest.raises(ValueError, match="needs --milvus-uri"):
        storage_from_args(p.parse_args(["--store", "milvus"]))
    with pytest.raises(ValueError, match="add --store milvus"):
        storage_from_args(p.parse_args(["--store", "local", "--milvus-uri", "x.db"]))
    with pytest.raises(ValueError, match="choose one of: local, milvus"):
        StoreSettings(kind="redis")


def test_the_commands_refuse_what_they_cannot_do(capsys):
    from qa.cli import main

    assert main(["ask", "anything", "--store", "milvus"]) == 2
    assert "needs --milvus-uri" in capsys.readouterr().err
    assert main(["bench", "--quick", "--store", "milvus", "--milvus-uri", "x.db"]) == 2  # not silently the local store
    assert "measures the local store only" in capsys.readouterr().err


def test_the_page_takes_the_store_options():
    import app

    args = app.parser().parse_args(["--store", "milvus", "--milvus-uri", "x.db"])
    assert storage_from_args(args) == StoreSettings(kind="milvus", milvus_uri="x.db")
