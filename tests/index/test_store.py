"""The local store on disk: manifest, staleness, incremental rebuilds, atomic publish, corruption detection (what
every store does, the local one included, is the contract in tests/index/test_store_contract.py)."""

import json

import pytest

from qa import Engine, IndexCorruptError, IndexMissingError

from qa.index import store
from qa.build.builder import stale_reasons
from qa.config import ChunkSettings


def build(corpus, index_dir, embedder, **kw):
    return Engine(corpus=corpus, index_dir=index_dir, embedder=embedder, **kw)


def test_manifest_records_model_settings_documents_and_versions(tiny_corpus, tmp_path, embedder):
    e = build(tiny_corpus, tmp_path / "ix", embedder)
    m = e.index.manifest
    assert m["model"] == {"name": "all-MiniLM-L6-v2", "dim": 384, "max_seq_length": 256}
    assert m["settings"]["chunking"] == ChunkSettings().to_dict()
    assert set(m["documents"]) == {"cats.txt", "rivers.md", "budget.txt", "page.html"}
    assert all(len(h) == 64 for h in m["documents"].values())
    assert {"faiss-cpu", "bm25s", "sentence-transformers", "torch"} <= set(m["versions"])
    assert m["counts"]["chunks"] == len(e.index.chunks) == e.index.dense.ntotal
    assert set(m["files"]) >= {"docs.jsonl", "chunks.jsonl", "dense.faiss", "sentences.npy"}


def test_changed_document_makes_the_index_stale_and_only_new_text_is_embedded(tiny_corpus, tmp_path, embedder):
    ix = tmp_path / "ix"
    first = build(tiny_corpus, ix, embedder).index
    assert stale_reasons(first.manifest, tiny_corpus, embedder, ChunkSettings()) == []
    (tiny_corpus / "budget.txt").write_text(
        "Budget 2021\n\nThe council allocated 5 million pounds to bridges in 2021.\n", encoding="utf-8"
    )
    reasons = stale_reasons(first.manifest, tiny_corpus, embedder, ChunkSettings())
    assert reasons and "budget.txt" in reasons[0]
    second = build(tiny_corpus, ix, embedder).index
    assert second.path != first.path
    # One chunk changed, made of one sentence: chunk and sentence embed the same text, so
    # exactly one new vector is computed; everything else comes from the embedding cache.
    assert second.manifest["counts"]["embedded"] == 1
    assert first.manifest["counts"]["embedded"] >= first.manifest["counts"]["chunks"]
    assert "5 million pounds" in second.docs["budget.txt"].text


def test_changed_settings_make_the_index_stale(tiny_corpus, tmp_path, embedder):
    e = build(tiny_corpus, tmp_path / "ix", embedder)
    reasons = stale_reasons(e.index.manifest, tiny_corpus, embedder, ChunkSettings(max_tokens=64, overlap_tokens=8))
    assert reasons == ["chunking changed"]
    with pytest.raises(IndexMissingError, match="stale"):
        build(tiny_corpus, tmp_path / "ix", embedder, settings=ChunkSettings(max_tokens=64, overlap_tokens=8), build="never")


def test_crash_midway_leaves_the_previous_index_loadable(tiny_corpus, tmp_path, embedder, monkeypatch):
    ix = tmp_path / "ix"
    old = build(tiny_corpus, ix, embedder)
    (tiny_corpus / "cats.txt").write_text("Cats\n\nCats now sleep all day long, every day.\n", encoding="utf-8")

    def crash(*a, **k):
        raise RuntimeError("simulated crash while writing the FAISS file")

    monkeypatch.setattr("faiss.write_index", crash)
    with pytest.raises(RuntimeError, match="simulated"):
        build(tiny_corpus, ix, embedder, build="force")
    monkeypatch.undo()
    survivor = store.load(ix)
    assert survivor.path == old.index.path
    assert survivor.docs["cats.txt"].text == old.index.docs["cats.txt"].text
    # The next build succeeds and sweeps the unfinished folder away.
    fresh = build(tiny_corpus, ix, embedder)
    assert "every day" in fresh.index.docs["cats.txt"].text
    assert not [p for p in (ix / "builds").iterdir() if ".tmp-" in p.name]


def test_a_damaged_build_is_rebuilt_under_the_default_policy(tiny_corpus, tmp_path, embedder):
    """That it is refused first, with what to run, is the store contract's (tests/index/test_store_contract.py)."""
    ix = tmp_path / "ix"
    e = build(tiny_corpus, ix, embedder)
    faiss_file = e.index.path / "dense.faiss"
    data = faiss_file.read_bytes()
    faiss_file.write_bytes(data[: len(data) // 2])
    again = build(tiny_corpus, ix, embedder)
    assert again.index.path != e.index.path
    assert again.ask("When was the Thames Barrier built?").passages[0].source == "rivers.md"


def test_a_current_that_names_no_build_is_refused(tmp_path):
    """(No build at all is the store contract's.)"""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "CURRENT").write_text("no-such-build\n")
    with pytest.raises(IndexCorruptError, match="missing"):
        store.load(tmp_path / "bad")


def test_manifest_file_list_must_match(tiny_corpus, tmp_path, embedder):
    ix = tmp_path / "ix"
    e = build(tiny_corpus, ix, embedder)
    m = json.loads((e.index.path / "manifest.json").read_text())
    m["files"]["chunks.jsonl"]["sha256"] = "0" * 64
    (e.index.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexCorruptError, match="does not match its manifest"):
        store.load(ix)


def test_cli_index_reuses_a_fresh_index_and_force_rebuilds(tiny_corpus, tmp_path, embedder, capsys):
    from qa.cli import main as cli_main

    ix = tmp_path / "ix"
    assert cli_main(["index", str(tiny_corpus), "--index-dir", str(ix)]) == 0
    first = store.current_build(ix)
    assert cli_main(["index", str(tiny_corpus), "--index-dir", str(ix)]) == 0
    assert store.current_build(ix) == first
    assert cli_main(["index", str(tiny_corpus), "--index-dir", str(ix), "--force"]) == 0
    assert store.current_build(ix) != first
    out = capsys.readouterr().out
    assert out.count("Index ready") == 3 and "4 documents" in out


def test_rebuild_chunks_only_the_changed_documents(tiny_corpus, tmp_path, embedder, monkeypatch):
    import qa.build.builder

    ix = tmp_path / "ix"
    first = build(tiny_corpus, ix, embedder).index
    chunked = []
    real = qa.build.builder.chunk_document
    monkeypatch.setattr(qa.build.builder, "chunk_document", lambda doc, *a, **k: chunked.append(doc.source) or real(doc, *a, **k))
    (tiny_corpus / "cats.txt").write_text("Cats\n\nCats now sleep all day long, every day.\n", encoding="utf-8")
    second = build(tiny_corpus, ix, embedder).index
    assert chunked == ["cats.txt"]
    # Reused chunks are the same records as before; the changed document's are new.
    same = [c for c in second.chunks if c.source != "cats.txt"]
    assert same == [c for c in first.chunks if c.source != "cats.txt"]
    assert any("every day" in c.text for c in second.chunks if c.source == "cats.txt")
    # Other settings: nothing is reused.
    chunked.clear()
    from qa.config import ChunkSettings

    build(tiny_corpus, ix, embedder, settings=ChunkSettings(max_tokens=64, overlap_tokens=8))
    assert sorted(chunked) == sorted(second.docs)


def test_token_spans_are_written_as_int32_and_a_build_with_int64_spans_still_reads(tmp_path):
    import numpy as np

    vectors = np.ones((3, 384), dtype=np.float16)
    spans = np.array([[0, 4], [5, 9], [2**31 - 2, 2**31 - 1]], dtype=np.int64)  # the last pair: the most int32 holds
    new = tmp_path / "new"
    new.mkdir()
    writer = store.LateWriter(new)
    writer.add(vectors[:1], spans[:1])
    writer.add(vectors[1:], spans[1:])
    got = writer.close(None)
    assert np.load(new / store.LATE_FILES[2]).dtype == np.int32 and got.spans.dtype == np.int32
    assert np.array_equal(got.spans, spans) and np.array_equal(got.offsets, [0, 1, 3])
    old = tmp_path / "old"  # as LateWriter wrote them before: int64 pairs
    old.mkdir()
    for name, array in zip(store.LATE_FILES, (vectors, np.array([0, 1, 3], dtype=np.int64), spans)):
        np.save(old / name, array)
    assert np.array_equal(store.read_late(old).spans, spans)
    with pytest.raises(ValueError, match="2 GiB"):
        store.LateWriter(tmp_path).add(vectors[:1], np.array([[2**31 - 1, 2**31]], dtype=np.int64))


def test_large_token_vectors_are_mapped_from_their_file_and_small_ones_widened_in_memory(tmp_path, monkeypatch):
    import numpy as np

    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float16)
    offsets, spans = np.array([0, 20, 50], dtype=np.int64), np.arange(100, dtype=np.int64).reshape(50, 2)
    for name, array in zip(store.LATE_FILES, (vectors, offsets, spans)):
        np.save(tmp_path / name, array)
    small = store.read_late(tmp_path)  # a build written before codecs: float16, no late_codec.npy
    assert small.codec is None and small.floats.dtype == np.float32 and not isinstance(small.floats, np.memmap)
    assert np.array_equal(small.rows(small.chunk_rows(1)), vectors[20:50].astype(np.float32))
    monkeypatch.setattr(store, "LATE_FLOAT32_MAX_BYTES", 50 * 8 * 4 - 1)  # one byte short of widening
    large = store.read_late(tmp_path)
    assert large.floats is None
    assert isinstance(large.vectors, np.memmap) and large.vectors.dtype == np.float16 and not large.vectors.flags.writeable
    assert np.array_equal(large.vectors, vectors) and np.array_equal(large.spans, spans)
    assert np.array_equal(large.vectors[large.chunk_rows(1)], vectors[20:50])
