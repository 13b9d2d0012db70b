"""Retrieval on a tiny index built with a fake embedder: BM25, dense, fusion, filters, passing over repeats."""

from __future__ import annotations

import dataclasses

import pytest

from qa import Engine, UnknownDocumentError
from qa.config import RetrievalSettings
from qa.search.fusion import rrf
from tests.fakes import FakeEmbedder, model_free_settings


@pytest.fixture
def fake_engine(tiny_corpus, tmp_path):
    return Engine(corpus=tiny_corpus, index_dir=tmp_path / "ix", embedder=FakeEmbedder(), settings=model_free_settings())


def test_bm25_finds_the_chunk_with_the_rare_words(fake_engine):
    hits = fake_engine.search("Thames Barrier tidal surges", k=1, mode="bm25")
    assert hits[0].chunk.source == "rivers.md" and "Barrier" in hits[0].chunk.text
    assert hits[0].bm25 > 0 and hits[0].rank_bm25 == 1 and hits[0].dense is None


def test_each_hit_carries_its_sentence_scores_for_the_answer_stage(fake_engine):
    for mode in ("hybrid", "dense", "bm25"):
        for h in fake_engine.search("When should roses be pruned?", k=3, mode=mode):
            assert len(h.sentence_scores) == len(h.chunk.sentences)


def test_hybrid_scores_are_the_weighted_fusion_of_both_ranks(tiny_corpus, tmp_path):
    st = RetrievalSettings(dense_weight=2.0, bm25_weight=1.0, rrf_k=10)
    engine = Engine(corpus=tiny_corpus, index_dir=tmp_path / "ix", embedder=FakeEmbedder(), settings=dataclasses.replace(model_free_settings(), retrieval=st))
    hits = engine.search("cats fed meat", k=5, mode="hybrid")
    for h in hits:
        want = (2.0 / (10 + h.rank_dense) if h.rank_dense else 0) + (1.0 / (10 + h.rank_bm25) if h.rank_bm25 else 0)
        assert h.score == pytest.approx(want)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert rrf([["a"]], k=10, weights=[2.0])["a"] == pytest.approx(2 / 11)


def test_a_document_filter_keeps_to_those_documents_and_names_unknown_ones(fake_engine):
    hits = fake_engine.search("Thames London", k=5, sources=["budget.txt", "cats.txt"])
    assert hits and {h.chunk.source for h in hits} <= {"budget.txt", "cats.txt"}
    with pytest.raises(UnknownDocumentError, match="nope.txt"):
        fake_engine.search("Thames", k=5, sources=["nope.txt"])


def test_a_chunk_mostly_inside_a_better_one_is_passed_over(fake_engine):
    r = fake_engine.retriever
    rows = list(range(len(fake_engine.index.chunks)))
    # the same chunk twice: the second copy is all shared text, so it is passed over
    assert r.distinct([rows[0], rows[0]] + rows[1:], k=len(rows)) == rows


def test_each_hit_knows_its_place_in_the_first_stage_list(fake_engine):
    for mode in ("hybrid", "dense", "bm25"):
        hits = fake_engine.search("When should roses be pruned?", k=4, mode=mode)
        assert [h.rank_fused for h in hits] == list(range(1, len(hits) + 1)), mode


# -- the fourth list: bge-small-en (qa/models/second.py) ---------------------------------------------------------


def bge_engine(tiny_corpus, tmp_path, **retrieval):
    s = model_free_settings()
    settings = dataclasses.replace(s, index=dataclasses.replace(s.index, second_dense=True),
                                   retrieval=RetrievalSettings(**retrieval))
    return Engine(corpus=tiny_corpus, index_dir=tmp_path / "ix", embedder=FakeEmbedder(), settings=settings)


@pytest.mark.model
def test_the_bge_list_is_fused_with_its_weight_and_only_in_hybrid_mode(tiny_corpus, tmp_path):
    engine = bge_engine(tiny_corpus, tmp_path, second_weight=1.5, dense_weight=2.0, rrf_k=10)
    hits = engine.search("How often should adult cats be fed?", k=5, mode="hybrid")
    assert hits[0].chunk.source == "cats.txt" and hits[0].rank_second == 1 and -1 <= hits[0].second <= 1
    for h in hits:
        want = sum(w / (10 + r) for w, r in ((2.0, h.rank_dense), (1.0, h.rank_bm25), (1.5, h.rank_second)) if r)
        assert h.score == pytest.approx(want)
    for mode in ("dense", "bm25"):
        assert all(h.second is None and h.rank_second is None for h in engine.search("cats fed meat", k=3, mode=mode))


@pytest.mark.model
def test_a_chunk_scores_its_best_long_sentence_when_that_beats_its_own_vector(tiny_corpus, tmp_path):
    from qa.models import second

    engine = bge_engine(tiny_corpus, tmp_path)
    index, q = engine.index, "How often should adult cats be fed?"
    qvec, words = second.encode_query(q), index.sentence_words
    for h in engine.search(q, k=5, mode="hybrid"):
        own = float(index.second.chunks[h.row] @ qvec)
        long = [x for x in index.chunk_sentence_rows[h.row] if words[x] >= engine.settings.retrieval.min_sentence_words]
        best = max((float(index.second.sentences[x] @ qvec) for x in long), default=-1.0)
        assert h.second == pytest.approx(max(own, best), abs=1e-5)


@pytest.mark.model
def test_above_the_full_scoring_size_the_bge_list_scores_the_other_lists_candidates_alike(tiny_corpus, tmp_path):
    q = "Which river has a tidal barrier?"
    full = {h.row: h.second for h in bge_engine(tiny_corpus, tmp_path).search(q, k=5, mode="hybrid")}
    some = bge_engine(tiny_corpus, tmp_path, second_full_max=0).search(q, k=5, mode="hybrid")
    assert some and all(h.second == pytest.approx(full[h.row], abs=1e-5) for h in some if h.row in full and h.second)
    engine = bge_engine(tiny_corpus, tmp_path)
    every = engine.retriever.second_scores(q, None, set(), 100)
    for sources in (["cats.txt"], ["rivers.md", "budget.txt"]):
        narrowed = engine.search(q, k=5, mode="hybrid", sources=sources)
        assert narrowed and {h.chunk.source for h in narrowed} <= set(sources)
        allowed = engine.retriever.allowed_rows(sources)
        # a document filter scores only its chunks' sentences, and each chunk as without the filter
        assert engine.retriever.second_scores(q, allowed, set(), 100) == pytest.approx({int(r): every[int(r)] for r in allowed})
