"""What only the Milvus store does (incremental rows, packed token vectors, collection sets and layouts, the options),
checked against the local store, in embedded Milvus Lite under tmp_path (no server, no network, no model). What
every store does is the contract in tests/index/test_store_contract.py."""

from __future__ import annotations

import base64
import dataclasses
import sys

import numpy as np
import pytest

try:
    import milvus_lite  # noqa: F401
    import pymilvus  # noqa: F401
except ImportError as e:  # fail, never skip: a missing extra must not pass for a green run
    raise ImportError(f"tests/index/test_milvus_store.py needs the milvus extra ({e.name} is missing): run `make install` "
                      "or `pip install -e '.[milvus]'`.") from e

from qa import Engine

from qa.index import milvus_rows

from qa.index import milvus_client, milvus_store

from qa.index import store
from qa.config import StoreSettings
from qa.errors import IndexCorruptError, IndexStaleError
from qa.records import TokenIndex
from qa.options import storage_from_args
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
    milvus_client.close(settings.milvus_uri)


def engines(corpus, tmp_path, milvus, emb=None):
    emb = emb or FakeEmbedder()
    local = Engine(corpus=corpus, index_dir=tmp_path / "local", embedder=emb, settings=model_free_settings())
    remote = Engine(corpus=corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    return local, remote


def same_answers(local: Engine, remote: Engine, questions=QUESTIONS) -> None:
    """Milvus ranks, scores and answers as the local store does (BM25 scores times k1 + 1, see BM25_ANALYZER)."""
    assert [c.id for c in remote.index.chunks] == [c.id for c in local.index.chunks]
    assert np.array_equal(remote.index.sentences, local.index.sentences)
    for q in questions:
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


def searches(engine: Engine) -> dict:
    """Every question's hits in every mode, scores included: what "answers exactly as before" compares."""
    return {(q, mode): engine.search(q, k=4, mode=mode) for q in QUESTIONS for mode in ("hybrid", "dense", "bm25")}


def versions(index) -> dict[str, str]:
    """{source: document version key} of a build published to Milvus."""
    return dict(index.manifest["store"]["documents"])


def stored(milvus, index) -> dict[str, set[str]]:
    """{collection part: document version keys with rows there} of the set ``index`` lives in."""
    c = milvus_client.client(milvus.milvus_uri)
    coll = milvus_store.names(milvus, index.manifest["store"]["set"])
    field = {"chunks": "doc", "records": "owner"}
    return {part: {r[f] for r in milvus_rows.read_all(c, coll[part], [f])} for part, f in field.items()}


def record_writes(milvus, monkeypatch) -> list[tuple[str, list[dict]]]:
    """(collection, rows) of every insert and upsert the Milvus client makes from now on."""
    c = milvus_client.client(milvus.milvus_uri)
    log = []
    for method in ("insert", "upsert"):
        def write(name, data, *args, _real=getattr(c, method), **kwargs):
            log.append((name, list(data)))
            return _real(name, data, *args, **kwargs)

        monkeypatch.setattr(c, method, write)
    return log


def written(log, part: str) -> list[str]:
    """Keys of the rows written to ``part`` collections."""
    return [row["key"] for name, rows in log if name.endswith("_" + part) for row in rows]


def packed(log, record: str) -> dict[str, str]:
    """{document version: the text written} of the ``record`` records (packed arrays) written."""
    parts: dict[str, list] = {}
    for name, rows in log:
        for row in rows:
            if name.endswith("_records") and row["name"] == record:
                parts.setdefault(row["owner"], []).append((row["part"], row["data"]))
    return {owner: "".join(d for _, d in sorted(got)) for owner, got in parts.items()}


KITTENS = "Cats\n\nKittens need four small meals a day until six months old.\n"
OWLS = "Owls\n\nBarn owls hunt voles at night over rough grassland.\n"


def rebuild_incrementally(tiny_corpus, tmp_path, milvus, monkeypatch):
    """A first build, then one document changed (cats), one added (owls), one removed (budget), rebuilt."""
    emb = FakeEmbedder()
    _, first = engines(tiny_corpus, tmp_path, milvus, emb)
    before = searches(first)
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    (tiny_corpus / "owls.txt").write_text(OWLS, encoding="utf-8")
    (tiny_corpus / "budget.txt").unlink()
    log = record_writes(milvus, monkeypatch)
    local, again = engines(tiny_corpus, tmp_path, milvus, emb)
    return first, before, local, again, log


def test_an_incremental_rebuild_writes_only_changed_and_added_documents(tiny_corpus, tmp_path, milvus, monkeypatch):
    first, before, local, again, log = rebuild_incrementally(tiny_corpus, tmp_path, milvus, monkeypatch)
    old, new = versions(first.index), versions(again.index)
    assert again.index.manifest["build"] != first.index.manifest["build"]
    assert again.index.manifest["store"]["set"] == first.index.manifest["store"]["set"]  # same settings: same collections
    assert new["rivers.md"] == old["rivers.md"] and new["cats.txt"] != old["cats.txt"] and "budget.txt" not in new
    fresh = {new["cats.txt"], new["owls.txt"]}
    idx, changed = again.index, ("cats.txt", "owls.txt")
    assert sorted(written(log, "chunks")) == sorted(f"{new[s]}:{p}" for s in changed for p in range(len(idx.by_source[s])))
    sentences = {r for s in changed for i in idx.by_source[s] for r in idx.chunk_sentence_rows[i]}
    written_vectors = {k: len(base64.b64decode(t)) // (4 * idx.sentences.shape[1]) for k, t in packed(log, milvus_rows.SENTENCES).items()}
    assert set(written_vectors) == fresh and sum(written_vectors.values()) == len(sentences) > 0
    assert {k.split(":")[0] for k in written(log, "records") if k.startswith("d")} == fresh
    assert len(written(log, "terms")) == len(idx.chunks)  # BM25 terms alone are written whole (milvus_rows.write_terms)
    same_answers(local, again)
    assert searches(first) == before  # the engine loaded before answers exactly as before: its rows are kept...
    kept = stored(milvus, again.index)
    assert {old["budget.txt"], old["cats.txt"]} <= kept["chunks"] and fresh <= kept["chunks"]
    assert not any(h.chunk.source == "budget.txt" for hits in searches(again).values() for h in hits)  # ...invisible to the live one

    again_before = searches(again)
    (tiny_corpus / "rivers.md").write_text("# Rivers\n\nThe Severn is the longest river in Britain.\n", encoding="utf-8")
    log.clear()
    local, third = engines(tiny_corpus, tmp_path, milvus, first.embedder)
    assert {k.split(":")[0] for k in written(log, "chunks")} == {versions(third.index)["rivers.md"]}
    same_answers(local, third, ["Which is the longest river in Britain?", "How many meals do kittens need?"])
    # two builds are kept: the one before (again) and the live one; the first build's own versions are gone
    want = set(versions(again.index).values()) | set(versions(third.index).values())
    assert all(keys == want for part, keys in stored(milvus, third.index).items() if part != "records")
    builds = {milvus_store._tag(e.index.manifest["build"]) for e in (again, third)}  # their manifests' owner
    assert stored(milvus, third.index)["records"] == want | builds
    assert searches(again) == again_before  # the build before the live one still answers exactly as it did
    c = milvus_client.client(milvus.milvus_uri)
    assert [c.has_collection(e.index.manifest["store"]["terms"]) for e in (first, again, third)] == [False, True, True]
    with pytest.raises(IndexStaleError, match="reload"):
        first.search("How often should adult cats be fed?")


def test_a_killed_publish_leaves_rows_no_build_reads_and_the_next_prunes_them(tiny_corpus, tmp_path, milvus, monkeypatch):
    """What the rows look like around a killed publish (that the live build stays whole is the store contract's,
    tests/index/test_store_contract.py): the killed build's rows sit in the live build's collections, never a
    candidate; the next publish deletes them and keeps the build before's."""
    emb = FakeEmbedder()
    _, first = engines(tiny_corpus, tmp_path, milvus, emb)
    before = searches(first)
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")

    def die(*args, **kwargs):
        raise RuntimeError("killed before the flip")

    with monkeypatch.context() as m:
        m.setattr(milvus_store, "_switch", die)
        with pytest.raises(RuntimeError, match="killed before the flip"):
            Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    orphan = {v.source: v.key for v in milvus_rows.versions(store.load(tmp_path / "mv"))}["cats.txt"]  # the local build went through
    assert orphan in stored(milvus, first.index)["chunks"]  # its rows are in the live build's collections...
    assert searches(first) == before  # ...and answer nothing

    (tiny_corpus / "cats.txt").write_text(KITTENS.replace("four", "five"), encoding="utf-8")
    local, healed = engines(tiny_corpus, tmp_path, milvus, emb)
    assert all(orphan not in keys for keys in stored(milvus, healed.index).values())  # the killed publish's rows are gone
    assert versions(first.index)["cats.txt"] in stored(milvus, healed.index)["chunks"]  # the build before's are kept
    assert searches(first) == before
    same_answers(local, healed, ["How many meals do kittens need?", "When did the Thames Barrier start protecting London?"])


def test_a_publish_killed_while_writing_rows_is_redone_by_the_next(tiny_corpus, tmp_path, milvus, monkeypatch):
    """A document's rows count as written once its seal is: a publish killed before that may have left only some."""
    emb = FakeEmbedder()
    _, first = engines(tiny_corpus, tmp_path, milvus, emb)
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    real_write = milvus_rows.write

    def die_at_the_seals(c, name, rows):
        rows = list(rows)
        if any(r.get("name") == milvus_rows.SEALED for r in rows):  # rows and records written, seals never
            raise RuntimeError("killed midway")
        return real_write(c, name, rows)

    monkeypatch.setattr(milvus_rows, "write", die_at_the_seals)
    with pytest.raises(RuntimeError, match="killed midway"):
        Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)
    cats = {v.source: v.key for v in milvus_rows.versions(store.load(tmp_path / "mv"))}["cats.txt"]
    assert cats in stored(milvus, first.index)["chunks"]
    c = milvus_client.client(milvus.milvus_uri)
    assert milvus_store.current_build(c, milvus) == first.index.manifest["build"]
    monkeypatch.setattr(milvus_rows, "write", real_write)
    log = record_writes(milvus, monkeypatch)
    local, healed = engines(tiny_corpus, tmp_path, milvus, emb)  # the same local build, published again
    assert versions(healed.index)["cats.txt"] == cats
    assert {k.split(":")[0] for k in written(log, "chunks")} == {cats}  # unsealed: written again, whole
    assert milvus_store.current_build(c, milvus) == healed.index.manifest["build"]
    same_answers(local, healed, ["How many meals do kittens need?"])


def with_tokens(index, codec=None):
    """``index`` with made-up ColBERT token vectors (the real ones need the model), decided by each chunk's id;
    stored as ``codec``'s codes when one is given."""
    vecs, spans, lengths = [], [], []
    for ch in index.chunks:
        rng = np.random.default_rng(int(ch.id, 16))
        n = 0 if ch.source == "page.html" else int(rng.integers(1, 6))  # a chunk with no token
        v = rng.normal(size=(n, 8 if codec is None else codec.dim))
        vecs.append(v.astype(np.float16) if codec is None else codec.encode(v))
        spans.append(rng.integers(0, 100, size=(n, 2)).astype(np.int64))
        lengths.append(n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    manifest = dict(index.manifest, counts=dict(index.manifest["counts"], late_tokens=int(offsets[-1])))
    late = TokenIndex(np.concatenate(vecs), offsets, np.concatenate(spans), codec=codec)
    return dataclasses.replace(index, late=late, manifest=manifest)


@pytest.mark.parametrize("compressed", [False, True], ids=["float16", "codes"])
def test_token_vectors_round_trip_through_milvus_and_are_written_incrementally(tiny_corpus, tmp_path, milvus, monkeypatch,
                                                                             compressed, request):
    """ColBERT token vectors (or their codes and codec) come back as the local store holds them; a rebuild writes
    those of changed documents only."""
    token_codec = request.getfixturevalue("token_codec") if compressed else None

    def publish_and_load():
        Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=FakeEmbedder(), settings=model_free_settings())
        local = with_tokens(store.load(tmp_path / "mv"), token_codec)
        milvus_store.publish(milvus, local)
        got = milvus_store.load(milvus).late
        assert np.array_equal(got.offsets, local.late.offsets) and np.array_equal(got.spans, local.late.spans)
        assert np.array_equal(got.vectors, local.late.vectors) and got.vectors.dtype == local.late.vectors.dtype
        if compressed:
            assert got.codec.key == token_codec.key and np.array_equal(got.floats, token_codec.decode(local.late.vectors))
        else:
            assert got.codec is None and np.array_equal(got.floats, local.late.vectors.astype(np.float32))
        return local

    publish_and_load()
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    log = record_writes(milvus, monkeypatch)
    local = publish_and_load()
    cats = {v.source: v.key for v in milvus_rows.versions(local)}["cats.txt"]
    tokens = sum(int(local.late.offsets[i + 1] - local.late.offsets[i]) for i in local.by_source["cats.txt"])
    got = packed(log, milvus_rows.TOKENS)
    assert set(got) == {cats} and set(packed(log, milvus_rows.SPANS)) == {cats}
    assert milvus_rows.unpack(got[cats], local.late.vectors.dtype, local.late.vectors.shape[1], tokens, "cats").shape[0] == tokens > 0


def test_token_spans_are_packed_as_int32_and_older_int64_records_still_unpack():
    spans = np.array([[0, 4], [5, 9], [10, 2**31 - 1]], dtype=np.int64)
    new = milvus_rows.pack(spans, milvus_rows.SPAN_DTYPE)
    assert len(base64.b64decode(new)) == spans.size * 4
    old = milvus_rows.pack(spans, np.int64)  # as qa wrote them before
    for text in (new, old):
        assert np.array_equal(milvus_rows.unpack_spans(text, 3, "spans"), spans)
    assert milvus_rows.unpack_spans(milvus_rows.pack(np.zeros((0, 2)), np.int32), 0, "spans").shape == (0, 2)
    with pytest.raises(IndexCorruptError):
        milvus_rows.unpack_spans(new, 2, "spans")


def test_a_reopened_milvus_loads_its_released_collections(tiny_corpus, tmp_path, milvus):
    """A new process finds every collection of a Milvus Lite file released; reading must load them first."""
    _, remote = engines(tiny_corpus, tmp_path, milvus)
    c = milvus_client.client(milvus.milvus_uri)
    for name in c.list_collections():
        c.release_collection(name)
    again = Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=FakeEmbedder(), settings=model_free_settings(),
                   storage=milvus, build="never")
    assert again.index.manifest["build"] == remote.index.manifest["build"]
    assert again.search("Thames Barrier", k=1, mode="bm25")[0].chunk.source == "rivers.md"


def test_a_missing_client_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(milvus_client.MilvusUnavailableError, match=r"pip install -e '\.\[milvus\]'"):
        milvus_client.client(str(tmp_path / "none.db"))
    monkeypatch.delitem(sys.modules, "pymilvus")
    monkeypatch.setitem(sys.modules, "milvus_lite", None)
    with pytest.raises(milvus_client.MilvusUnavailableError, match="milvus-lite is not installed"):
        milvus_client.client(str(tmp_path / "none.db"))


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
    assert "`--sections stores` compares the local store with Milvus Lite" in capsys.readouterr().err


def test_the_page_takes_the_store_options():
    from qa.page import app

    args = app.parser().parse_args(["--store", "milvus", "--milvus-uri", "x.db"])
    assert storage_from_args(args) == StoreSettings(kind="milvus", milvus_uri="x.db")


def test_a_settings_change_starts_a_new_collection_set_and_the_old_layout_is_dropped(tiny_corpus, tmp_path, milvus, monkeypatch):
    """Rows depend on the settings, so new settings mean a new set; the set before goes once no kept build reads it."""
    c = milvus_client.client(milvus.milvus_uri)
    old_layout = f"{milvus.milvus_prefix}_b20200101_000000_00000000_chunks"  # a build written by layout 1
    c.create_collection(old_layout, dimension=2)
    milvus_store._switch(c, milvus, "20200101-000000-00000000")
    with pytest.raises(IndexCorruptError, match="qa index --force --store milvus"):
        milvus_store.load(milvus)
    emb = FakeEmbedder()

    def open_engine(settings=model_free_settings()):
        return Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=settings, storage=milvus)

    first = open_engine()  # the old build is unreadable: rebuilt
    one = first.index.manifest["store"]["set"]
    assert c.has_collection(old_layout)  # kept for the build live before, which a reader may still have open
    log = record_writes(milvus, monkeypatch)
    again = open_engine(model_free_settings(max_tokens=60))
    two = again.index.manifest["store"]["set"]
    assert two != one and len(written(log, "chunks")) == len(again.index.chunks)  # a new set: every row written
    assert not c.has_collection(old_layout) and c.has_collection(milvus_store.names(milvus, one)["chunks"])
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    third = open_engine(model_free_settings(max_tokens=60))
    assert third.index.manifest["store"]["set"] == two
    assert not any(n.startswith(f"{milvus.milvus_prefix}_{one}_") for n in c.list_collections())


def test_a_build_in_the_row_per_token_layout_is_rebuilt_and_its_collections_dropped(tiny_corpus, tmp_path, milvus, monkeypatch):
    """Layout 2 kept a row per sentence and per token; a reader refuses it with what to run, the engine rebuilds,
    and once no kept build reads the old set its collections, those two included, are dropped."""
    c = milvus_client.client(milvus.milvus_uri)
    emb = FakeEmbedder()

    def open_engine():
        return Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=model_free_settings(), storage=milvus)

    with monkeypatch.context() as m:
        m.setattr(milvus_store, "LAYOUT", 2)
        old = open_engine().index.manifest["store"]["set"]
    old_tokens = milvus_store.names(milvus, old)["chunks"].replace("_chunks", "_tokens")
    c.create_collection(old_tokens, dimension=2)
    with pytest.raises(IndexCorruptError, match="older layout.*qa index --force --store milvus"):
        milvus_store.load(milvus)
    again = open_engine()  # rebuilt in the new layout
    assert again.index.manifest["store"]["set"] != old and again.index.manifest["store"]["layout"] == milvus_store.LAYOUT
    assert c.has_collection(old_tokens)  # the build before is kept one more publish
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    open_engine()
    assert not any(n.startswith(f"{milvus.milvus_prefix}_{old}_") for n in c.list_collections())


@pytest.mark.model
def test_bge_vectors_round_trip_through_milvus_and_it_answers_as_the_local_store(tiny_corpus, tmp_path, milvus):
    s = model_free_settings()
    settings = dataclasses.replace(s, index=dataclasses.replace(s.index, second_dense=True))
    emb = FakeEmbedder()
    local = Engine(corpus=tiny_corpus, index_dir=tmp_path / "local", embedder=emb, settings=settings)
    remote = Engine(corpus=tiny_corpus, index_dir=tmp_path / "mv", embedder=emb, settings=settings, storage=milvus)
    assert np.array_equal(remote.index.second.chunks, local.index.second.chunks)
    assert np.array_equal(remote.index.second.sentences, local.index.second.sentences)
    assert any(h.rank_second for h in remote.search(QUESTIONS[0], k=4, mode="hybrid"))
    same_answers(local, remote)
