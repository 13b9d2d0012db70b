"""The local store on disk: manifest, staleness, incremental rebuilds, atomic publish, corruption detection (what
every store does, the local one included, is the contract in tests/index/test_store_contract.py)."""

import json

import pytest

from qa import Engine, IndexCorruptError, IndexMissingError

from qa.index import build_dirs, store
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
    first = build_dirs.current_build(ix)
    assert cli_main(["index", str(tiny_corpus), "--index-dir", str(ix)]) == 0
    assert build_dirs.current_build(ix) == first
    assert cli_main(["index", str(tiny_corpus), "--index-dir", str(ix), "--force"]) == 0
    assert build_dirs.current_build(ix) != first
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
