"""The build: load -> chunk -> embed -> indexes -> publish, with settings passed as values (no model: a fake one)."""

from __future__ import annotations

import faiss
import pytest
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


# -- sentence vectors pooled from their chunk's pass (qa/build/sentences.py) -------------------------------------


def pooled_settings(mode="pooled", **chunk):
    import dataclasses

    s = model_free_settings(**chunk)
    return dataclasses.replace(s, index=dataclasses.replace(s.index, sentence_vectors=mode))


def test_a_pooled_build_runs_each_chunk_text_once_and_gives_every_distinct_sentence_a_vector(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    (tiny_corpus / "long.txt").write_text("Trains\n\n" + " ".join(f"Train number {i} leaves at noon." for i in range(8)),
                                          encoding="utf-8")  # 5 words a sentence: chunks of 3, overlapping by 1
    build(tiny_corpus, tmp_path / "ix", emb, pooled_settings(max_tokens=16, overlap_tokens=8))
    ix = store.load(tmp_path / "ix")
    distinct = {(c.source, a, b) for c in ix.chunks for a, b in c.sentences}
    assert sum(len(c.sentences) for c in ix.chunks) > len(distinct), "some sentences are in two chunks"
    assert ix.manifest["settings"]["sentence_vectors"] == "pooled"
    assert sum(emb.calls) == len({c.embed_text for c in ix.chunks}) == ix.manifest["counts"]["embedded"]
    assert len(ix.sentences) == len(distinct) == ix.manifest["counts"]["sentences"]
    for c, rows in zip(ix.chunks, ix.chunk_sentence_rows):  # the fake pools a span into its words' own vector
        texts = [ix.docs[c.source].text[a:b] for a, b in c.sentences]
        assert np.allclose(ix.sentences[rows], emb.encode(texts), atol=1e-6)


def test_a_sentence_in_two_chunks_is_pooled_where_it_is_most_central():
    from qa.build import sentences
    from qa.ingest.chunk import model_text
    from qa.records import Chunk, Document

    text = "One two. Three four. Five six. Seven eight."
    doc = Document(source="d.txt", title="d", text=text, sha256="x")
    spans = [(0, 8), (9, 20), (21, 30), (31, 43)]

    def chunk(first, last):
        a, b = spans[first][0], spans[last][1]
        return Chunk(id=str(first), source="d.txt", start=a, end=b, text=text[a:b], section=(),
                     sentences=tuple(spans[first : last + 1]), embed_text=model_text(text[a:b]))

    chunks = [chunk(0, 2), chunk(1, 3)]  # "Three four." and "Five six." are in both
    plan = sentences.plan(chunks, {"d.txt": doc}, {"d.txt": lambda section: ("", 0)}, "pooled")
    assert plan.chunk_rows == [[0, 1, 2], [1, 2, 3]]
    pooled_by = {row: ci for ci, pools in enumerate(plan.pools) for row, _ in pools}
    # "Three four." has 9 characters before it and 10 after in chunk 0, none before in chunk 1; "Five six." is
    # last in chunk 0 and has 12 characters before and 12 after in chunk 1
    assert pooled_by == {0: 0, 1: 0, 2: 1, 3: 1}
    for ci, pools in enumerate(plan.pools):
        for row, ((a, b),) in pools:
            assert chunks[ci].embed_text[a:b] == plan.texts[row]


def test_a_sentence_no_pass_could_pool_is_embedded_on_its_own(tiny_corpus, tmp_path):
    class CutsAfter40(FakeEmbedder):  # as a model that reads only a text's first 40 characters
        def encode_documents_pooled(self, texts, pools, special=False, progress=None):
            vecs, pooled = super().encode_documents_pooled(texts, pools, special, progress)
            for ps, rows in zip(pools, pooled):
                rows[[max(b for _, b in r) > 40 for r in ps]] = np.nan
            return vecs, pooled

    emb = CutsAfter40()
    build(tiny_corpus, tmp_path / "ix", emb, pooled_settings())
    ix = store.load(tmp_path / "ix")
    assert not np.isnan(ix.sentences).any()
    alone = {ix.docs[c.source].text[a:b] for c in ix.chunks for a, b in c.sentences if b - c.start > 40}
    new = alone - {c.embed_text for c in ix.chunks}  # a sentence that is its chunk's whole text is in the cache already
    assert new and ix.manifest["counts"]["embedded"] == len(ix.chunks) + len(new)
    for c, rows in zip(ix.chunks, ix.chunk_sentence_rows):
        assert np.allclose(ix.sentences[rows], emb.encode([ix.docs[c.source].text[a:b] for a, b in c.sentences]), atol=1e-6)


def test_changing_how_sentence_vectors_are_made_rebuilds_the_index(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    build(tiny_corpus, tmp_path / "ix", emb, model_free_settings())
    m = store.load(tmp_path / "ix").manifest
    assert m["settings"]["sentence_vectors"] == "separate"
    # pooled sentence vectors come from the chunk's pass, which then gives the chunk's vector too
    assert stale_reasons(m, tiny_corpus, emb, pooled_settings()) == ["sentence_vectors changed", "chunk_vectors changed"]
    old = {**m, "settings": {k: v for k, v in m["settings"].items() if k != "sentence_vectors"}}  # built before the setting
    assert stale_reasons(old, tiny_corpus, emb, model_free_settings()) == ["sentence_vectors changed"]

    class Generic(FakeEmbedder):
        def cannot_pool(self):
            return "not a plain mean-pooling model"

    assert settings_of(Generic(), pooled_settings())["sentence_vectors"] == "separate"
    assert stale_reasons(m, tiny_corpus, Generic(), pooled_settings()) == []


def test_a_pooled_rebuild_runs_only_the_edited_documents_chunks(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    settings = pooled_settings("pooled-special")
    build(tiny_corpus, tmp_path / "ix", emb, settings)
    first = sum(emb.calls)
    with open(tiny_corpus / "budget.txt", "a", encoding="utf-8") as f:
        f.write("\nThe rest went to parks.\n")
    build(tiny_corpus, tmp_path / "ix", emb, settings, previous=store.load(tmp_path / "ix"))
    ix = store.load(tmp_path / "ix")
    edited = {c.embed_text for c in ix.chunks if c.source == "budget.txt"}
    assert sum(emb.calls) - first == len(edited) == ix.manifest["counts"]["embedded"] == 1
    assert len(ix.sentences) == sum(1 for _ in {(c.source, s) for c in ix.chunks for s in c.sentences})


# -- chunk vectors as the mean of their sentences' vectors (IndexSettings.chunk_vectors) --------------------------


def chunk_vector_settings(how, **chunk):
    import dataclasses

    s = model_free_settings(**chunk)
    return dataclasses.replace(s, index=dataclasses.replace(s.index, chunk_vectors=how))


def stored_chunk_vectors(ix) -> np.ndarray:
    return ix.dense.reconstruct_n(0, ix.dense.ntotal)


def test_a_sentence_mean_build_embeds_no_chunk_text_and_stores_each_chunk_as_its_sentences_mean(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    (tiny_corpus / "long.txt").write_text("Trains\n\n" + " ".join(f"Train number {i} leaves at noon." for i in range(8)),
                                          encoding="utf-8")  # 5 words a sentence: several chunks of several sentences
    build(tiny_corpus, tmp_path / "ix", emb, chunk_vector_settings("sentence-mean", max_tokens=16, overlap_tokens=8))
    ix = store.load(tmp_path / "ix")
    assert ix.manifest["settings"]["chunk_vectors"] == "sentence-mean"
    assert any(len(c.sentences) > 1 for c in ix.chunks)
    assert sum(emb.calls) == len(ix.sentences) == ix.manifest["counts"]["embedded"], "only the sentences were embedded"
    for v, rows in zip(stored_chunk_vectors(ix), ix.chunk_sentence_rows):
        mean = ix.sentences[rows].mean(axis=0)
        assert np.allclose(v, mean / np.linalg.norm(mean), atol=1e-6)


def test_a_chunk_without_sentences_gets_its_own_pass_under_sentence_mean():
    from qa.build import sentences

    class Cache:  # as EmbeddingCache.embed, without a file
        def embed(self, embedder, texts, progress=None, encode=None):
            return embedder.encode(texts), len(texts)

    class Bare:
        embed_text = "Parks and budgets"

    emb = FakeEmbedder()
    p = sentences.Plan(texts=["Trains leave at noon.", "Buses leave at one."], chunk_rows=[[0, 1], []])
    chunk_vecs, sent_vecs, embedded, keys = sentences.embed(p, [Bare(), Bare()], "separate", Cache(), emb,
                                                            chunks_from="sentence-mean")
    assert embedded == 3 and len(keys) == 3 and np.allclose(sent_vecs, emb.encode(p.texts))
    mean = sent_vecs.mean(axis=0)
    assert np.allclose(chunk_vecs[0], mean / np.linalg.norm(mean), atol=1e-6)
    assert np.allclose(chunk_vecs[1], emb.encode([Bare.embed_text])[0])


def test_an_encoded_build_stores_each_chunk_texts_own_vector(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    build(tiny_corpus, tmp_path / "ix", emb, chunk_vector_settings("encoded"))
    ix = store.load(tmp_path / "ix")
    assert ix.manifest["settings"]["chunk_vectors"] == "encoded"
    assert np.allclose(stored_chunk_vectors(ix), emb.encode([c.embed_text for c in ix.chunks]), atol=1e-6)


def test_changing_how_chunk_vectors_are_made_rebuilds_the_index(tiny_corpus, tmp_path):
    emb = FakeEmbedder()
    build(tiny_corpus, tmp_path / "ix", emb, chunk_vector_settings("encoded"))
    m = store.load(tmp_path / "ix").manifest
    assert stale_reasons(m, tiny_corpus, emb, chunk_vector_settings("sentence-mean")) == ["chunk_vectors changed"]
    old = {**m, "settings": {k: v for k, v in m["settings"].items() if k != "chunk_vectors"}}  # built before the setting
    assert stale_reasons(old, tiny_corpus, emb, chunk_vector_settings("encoded")) == ["chunk_vectors changed"]


def test_an_unknown_way_of_making_chunk_vectors_is_refused_with_the_choices():
    import pytest

    with pytest.raises(ValueError, match="sentence-mean"):
        IndexSettings(chunk_vectors="centroid")


# -- bge vectors, the fusion's fourth list (qa/models/second.py) --------------------------------------------------


def bge_settings():
    import dataclasses

    s = model_free_settings()
    return dataclasses.replace(s, index=dataclasses.replace(s.index, second_dense=True))


@pytest.mark.model
def test_a_build_stores_the_bge_vector_of_every_chunk_and_sentence_as_it_stands(tiny_corpus, tmp_path):
    from qa.models import second

    build(tiny_corpus, tmp_path / "ix", FakeEmbedder(), bge_settings())
    ix = store.load(tmp_path / "ix")
    assert ix.second.chunks.shape == (len(ix.chunks), second.DIM)
    assert ix.second.sentences.shape == (len(ix.sentences), second.DIM)
    c, rows = ix.chunks[0], ix.chunk_sentence_rows[0]
    a, b = c.sentences[-1]
    want = second.encode_documents([c.text, ix.docs[c.source].text[a:b]])
    assert np.allclose(ix.second.chunks[0], want[0], atol=1e-6) and np.allclose(ix.second.sentences[rows[-1]], want[1], atol=1e-6)
    assert ix.manifest["settings"]["second_dense"]["upstream"] == "BAAI/bge-small-en"
    assert "second_dense changed" in stale_reasons(ix.manifest, tiny_corpus, FakeEmbedder(), model_free_settings())


@pytest.mark.model
def test_a_rebuild_encodes_only_new_text_with_bge_and_a_build_without_it_has_none(tiny_corpus, tmp_path):
    first = build(tiny_corpus, tmp_path / "ix", FakeEmbedder(), bge_settings())
    previous = store.load(tmp_path / "ix")
    assert previous.manifest["counts"]["second_encoded"] > 0
    (tiny_corpus / "budget.txt").write_text("Budget 2021\n\nThe council spent 5 million pounds on parks.\n", encoding="utf-8")
    assert build(tiny_corpus, tmp_path / "ix", FakeEmbedder(), bge_settings(), previous=previous) != first
    again = store.load(tmp_path / "ix")
    assert 0 < again.manifest["counts"]["second_encoded"] <= 3  # the changed document's chunk and its sentences
    kept = {c.text: i for i, c in enumerate(previous.chunks)}
    for i, c in enumerate(again.chunks):
        if c.text in kept:
            assert np.array_equal(again.second.chunks[i], previous.second.chunks[kept[c.text]])
    build(tiny_corpus, tmp_path / "plain", FakeEmbedder(), model_free_settings())
    assert store.load(tmp_path / "plain").second is None
