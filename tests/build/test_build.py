"""The build: load -> chunk -> embed -> indexes -> publish, with settings passed as values (no model: a fake one)."""

from __future__ import annotations

import faiss
import numpy as np

from qa.index import store
from qa.build.builder import build, dense_index, settings_of, stale_reasons
from qa.config import IndexSettings, Settings
from tests.fakes import FakeEmbedder, model_free_settings


def test_dense_index_is_exact_up_to_the_threshold_and_ivf_above():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    assert isinstance(dense_index(vecs, IndexSettings(ann_threshold=300)), faiss.IndexFlatIP)
    ivf = dense_index(vecs, IndexSettings(ann_threshold=299, ivf_lists_per_sqrt_n=1.0, ivf_probe_fraction=0.5))
    assert isinstance(ivf, faiss.IndexIVF)
    assert ivf.nlist == int(np.sqrt(300)) and ivf.nprobe == round(ivf.nlist * 0.5)
    # reconstruct works on the IVF index (rescoring needs it)
    assert np.allclose(ivf.reconstruct(7), vecs[7], atol=1e-6)


def test_a_build_writes_every_setting_and_reads_back_what_it_wrote(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    settings = model_free_settings(max_tokens=32, overlap_tokens=8)
    path = build(tiny_corpus, tmp_path / "ix", emb, settings)
    loaded = store.load(tmp_path / "ix")
    assert loaded.path == path
    m = loaded.manifest
    assert m["all_settings"] == settings.to_dict()
    assert m["settings"] == settings_of(emb, settings)
    assert stale_reasons(m, tiny_corpus, emb, settings) == []
    assert stale_reasons(m, tiny_corpus, emb, model_free_settings()) == ["chunking changed"]
    assert "late_interaction changed" in stale_reasons(m, tiny_corpus, emb, Settings(chunk=settings.chunk))
    # the records read back equal the chunks' own contract: text is a slice of the document
    for c, rows in zip(loaded.chunks, loaded.chunk_sentence_rows):
        assert loaded.docs[c.source].text[c.start : c.end] == c.text
        assert len(rows) == len(c.sentences)
    assert loaded.dense.ntotal == len(loaded.chunks) == loaded.bm25.scores["num_docs"]


def test_a_rebuild_embeds_only_new_text(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    build(tiny_corpus, tmp_path / "ix", emb, model_free_settings())
    first = sum(emb.calls)
    (tiny_corpus / "budget.txt").write_text("Budget 2021\n\nThe council spent 5 million pounds on parks.\n", encoding="utf-8")
    previous = store.load(tmp_path / "ix")
    build(tiny_corpus, tmp_path / "ix", emb, model_free_settings(), previous=previous)
    again = sum(emb.calls) - first
    assert 0 < again <= 4, f"only the changed document's chunk and sentences are embedded, not {again} texts"
