"""One contract for every store's first stage (qa/index/first_stage.py): the local build's files and a Milvus
Lite collection give the same rows and scores for the same questions, obey the document filter, and take any
depth."""

from __future__ import annotations

import numpy as np
import pytest

from qa import Engine
from qa.config import StoreSettings
from qa.index import milvus_client, milvus_store
from qa.index.first_stage import LocalFirstStage
from tests.fakes import FakeEmbedder, model_free_settings

QUESTIONS = ["When did the Thames Barrier start protecting London?", "How often should adult cats be fed?",
             "How much money went to road repairs?", "zebra xylophone"]
BM25_FACTOR = 1.5 + 1  # Milvus scores BM25 with the (k1 + 1) factor bm25s's "lucene" variant leaves out


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """{"local": (first stage, engine), "milvus": (...)} over one small corpus."""
    root = tmp_path_factory.mktemp("first-stage")
    corpus = _corpus(root)
    emb = FakeEmbedder()
    local = Engine(corpus=corpus, index_dir=root / "local", embedder=emb, settings=model_free_settings())
    settings = StoreSettings(kind="milvus", milvus_uri=str(root / "milvus.db"))
    remote = Engine(corpus=corpus, index_dir=root / "mv", embedder=emb, settings=model_free_settings(), storage=settings)
    yield {"local": (local.retriever.first_stage, local), "milvus": (remote.retriever.first_stage, remote)}
    milvus_client.close(settings.milvus_uri)


def _ranked(stage, qvec, rows) -> list[tuple[float, frozenset]]:
    """Rows as (score, rows with that score), best first: stores may order exact ties differently."""
    scores = (stage.chunk_vectors(rows) @ qvec).round(5) if len(rows) else []
    groups: dict[float, set] = {}
    for r, sc in zip(rows, scores):
        groups.setdefault(float(sc), set()).add(int(r))
    order = sorted(groups, reverse=True)
    assert list(scores) == sorted(scores, reverse=True)  # best first
    return [(sc, frozenset(groups[sc])) for sc in order]


def _corpus(root):
    folder = root / "docs"
    folder.mkdir()
    texts = {
        "thames.txt": "The Thames Barrier\n\nThe Thames Barrier has protected London from floods since 1982. "
                      "It closes when a surge tide comes up the estuary.",
        "cats.txt": "Feeding cats\n\nAdult cats should be fed twice a day. Kittens need food more often.",
        "budget.txt": "The council budget\n\nThe council spent 3 million pounds on road repairs last year. "
                      "Parks received a further 500,000 pounds.",
        "garden.txt": "Gardening\n\nPrune roses in late winter. Water tomatoes daily in summer.",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_each_store_has_its_own_first_stage(stages):
    assert isinstance(stages["local"][0], LocalFirstStage)
    assert isinstance(stages["milvus"][0], milvus_store.MilvusFirstStage)


@pytest.mark.parametrize("sources", [None, ["cats.txt"], ["budget.txt", "thames.txt"]])
def test_both_stores_give_the_same_dense_rows_and_bm25_scores(stages, sources):
    (local, eng), (remote, _) = stages["local"], stages["milvus"]
    for q in QUESTIONS:
        qvec = eng.embedder.encode([q])[0]
        for depth in (1, 3, 50):
            a, b = local.dense_candidates(qvec, sources, depth), remote.dense_candidates(qvec, sources, depth)
            assert _ranked(local, qvec, a) == _ranked(local, qvec, b), (q, sources, depth)
            a, b = local.bm25_scores(q, sources, depth), remote.bm25_scores(q, sources, depth)
            assert a.keys() == b.keys(), (q, sources, depth)
            for row in a:
                assert b[row] == pytest.approx(BM25_FACTOR * a[row], rel=1e-4)
        rows = list(range(len(eng.index.chunks)))
        np.testing.assert_allclose(local.chunk_vectors(rows), remote.chunk_vectors(rows), atol=1e-6)


@pytest.mark.parametrize("store", ["local", "milvus"])
def test_the_document_filter_is_obeyed_and_any_depth_is_taken(stages, store):
    stage, eng = stages[store]
    by_row = {i: c.source for i, c in enumerate(eng.index.chunks)}
    qvec = eng.embedder.encode(["cats fed London floods"])[0]
    for sources in (["cats.txt"], ["thames.txt", "garden.txt"]):
        assert {by_row[int(r)] for r in stage.dense_candidates(qvec, sources, 50)} <= set(sources)
        assert {by_row[r] for r in stage.bm25_scores("cats fed London floods", sources, 50)} <= set(sources)
    assert len(stage.dense_candidates(qvec, None, 10_000)) == len(by_row)  # deeper than the index: all of it
    assert stage.dense_candidates(qvec, None, 0).tolist() == [] and stage.bm25_scores("cats", None, 0) == {}
    assert stage.bm25_scores("zzzz qqqq", None, 5) == {}  # no word in the index: nothing, not zeros
    assert stage.chunk_vectors([]).shape[0] == 0
