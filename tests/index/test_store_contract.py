"""The contract every store keeps (qa/index/stores.py): each test runs on the local store and on Milvus Lite (a
database file under tmp_path, no server, no network), with the bag-of-words embedder (no model).

A store loads its live build whole or says what to run; a publish makes a build live and moves the pointer a page
polls; a rebuild after an edit and after a removal answers from the new documents while an engine loaded before
answers as it did; document filters are obeyed; a publish killed at the moment it would make a build live leaves
the live one whole; a damaged build is refused with what to run; and on the seed corpus and questions both stores
give the same first-stage candidates with the same scores (BM25 by value: Milvus's is k1 + 1 times bm25s's).
What only one store does is tested beside it: tests/index/test_store.py, test_milvus_store.py, test_milvus_server.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa import Engine
from qa.config import RetrievalSettings, StoreSettings
from qa.errors import IndexCorruptError, IndexMissingError, UnknownDocumentError
from qa.index import milvus_client, milvus_rows, milvus_store, store
from qa.index.first_stage import LocalFirstStage, MilvusFirstStage
from qa.index.stores import LocalStore, MilvusStore, open_store
from qa.search.retrieve import Retriever
from tests.conftest import ROOT, SEEDS
from tests.fakes import FakeEmbedder, model_free_settings

QUESTIONS = ["When did the Thames Barrier start protecting London?", "How often should adult cats be fed?",
             "How much money went to road repairs?", "When should roses be pruned?", "zebra xylophone"]
KITTENS = "Cats\n\nKittens need four small meals a day until six months old.\n"
OWLS = "Owls\n\nBarn owls hunt voles at night over rough grassland.\n"
BM25_FACTOR = 1.5 + 1
"""Milvus scores BM25 with the (k1 + 1) factor that bm25s's "lucene" variant leaves out (k1 = 1.5 in both)."""


class LocalCase:
    """The local store over an index folder: how a test opens it, kills its publish and damages its build."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.index_dir = root / "index"
        self.storage = StoreSettings()
        self.emb = FakeEmbedder()

    def engine(self, corpus: Path, build: str = "auto") -> Engine:
        return Engine(corpus=corpus, index_dir=self.index_dir, embedder=self.emb, settings=model_free_settings(),
                      storage=self.storage, build=build, preload=False)

    @property
    def store(self):
        return open_store(self.storage, self.index_dir)

    def kill_the_flip(self, monkeypatch) -> None:
        """The build is written and sealed; the replace of CURRENT that would make it live dies."""
        real = os.replace

        def die(src, dst, *args, **kwargs):
            if Path(dst).name == "CURRENT":
                raise RuntimeError("killed at the flip")
            return real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", die)

    def damage(self, engine: Engine) -> None:
        """Half of the live build's FAISS file is lost."""
        faiss_file = engine.index.path / "dense.faiss"
        data = faiss_file.read_bytes()
        faiss_file.write_bytes(data[: len(data) // 2])

    def close(self) -> None:
        pass


class MilvusCase(LocalCase):
    """Milvus Lite in a database file of the test's own, its embedded server stopped afterwards."""

    kind = "milvus"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.storage = StoreSettings(kind="milvus", milvus_uri=str(root / "milvus.db"))

    def kill_the_flip(self, monkeypatch) -> None:
        """Every row, record and the manifest are written; the switch of the ``current`` record dies."""
        def die(*args, **kwargs):
            raise RuntimeError("killed at the flip")

        monkeypatch.setattr(milvus_store, "_switch", die)

    def damage(self, engine: Engine) -> None:
        """One document's packed sentence vectors are cut to one value."""
        info = engine.index.manifest["store"]
        key = info["documents"][0][1]
        c = milvus_client.client(self.storage.milvus_uri)
        records = milvus_store.names(self.storage, info["set"])["records"]
        milvus_rows.write(c, records, milvus_rows.record_rows(key, milvus_rows.SENTENCES, "AAAAAA=="))
        c.flush(records)

    def close(self) -> None:
        milvus_client.close(self.storage.milvus_uri)


CASES = {"local": LocalCase, "milvus": MilvusCase}


@pytest.fixture(params=list(CASES))
def case(request, tmp_path):
    c = CASES[request.param](tmp_path)
    yield c
    c.close()


def searches(engine: Engine) -> dict:
    """Every question's hits in every mode, scores included: what "answers exactly as before" compares."""
    return {(q, mode): engine.search(q, k=4, mode=mode) for q in QUESTIONS for mode in ("hybrid", "dense", "bm25")}


# -- load and publish ---------------------------------------------------------------------------------


def test_open_store_picks_the_store_the_settings_name(tmp_path):
    assert isinstance(open_store(StoreSettings(), tmp_path), LocalStore)
    assert isinstance(open_store(StoreSettings(kind="milvus", milvus_uri="x.db"), tmp_path), MilvusStore)


def test_the_local_store_never_imports_milvus(tiny_corpus):
    """pymilvus and milvus-lite are imported when a Milvus store is first asked something, never otherwise."""
    code = ("import sys; from qa import Engine; from tests.fakes import FakeEmbedder, model_free_settings; "
            f"e = Engine(corpus={str(tiny_corpus)!r}, index_dir={str(tiny_corpus.parent / 'ix')!r}, embedder=FakeEmbedder(), "
            "settings=model_free_settings(), preload=False); e.ask('When was the Thames Barrier built?'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymilvus', 'milvus_lite')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_nothing_published_yet_says_how_to_build(case, tiny_corpus):
    assert case.store.live_manifest() is None
    with pytest.raises(IndexMissingError, match="No index in .*python -m qa index"):
        case.store.load()
    with pytest.raises(IndexMissingError, match="python -m qa index"):
        case.engine(tiny_corpus, build="never")


def test_a_published_build_loads_whole_from_the_store(case, tiny_corpus):
    engine = case.engine(tiny_corpus)
    local = store.load(case.index_dir)  # the index folder's build it was made live from
    got = case.store.load()
    assert got.manifest["build"] == case.store.live_manifest()["build"] == local.manifest["build"]
    assert got.docs == local.docs and got.chunks == local.chunks
    assert got.chunk_sentence_rows == local.chunk_sentence_rows and np.array_equal(got.sentences, local.sentences)
    assert {s: r.tolist() for s, r in got.by_source.items()} == {s: r.tolist() for s, r in local.by_source.items()}
    assert engine.ask(QUESTIONS[0], k=1).build == local.manifest["build"]  # answers name the build they came from
    assert (case.store.build_folder(got) / "manifest.json").is_file()  # where its character boxes lie


def test_a_publish_moves_the_pointer_and_a_new_reader_loads_the_new_build(case, tiny_corpus):
    first = case.engine(tiny_corpus)
    before = case.store.pointer()
    assert case.store.pointer() == before  # nothing published: the same, asked again
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    second = case.engine(tiny_corpus)
    assert second.index.manifest["build"] != first.index.manifest["build"]
    assert case.store.pointer() != before
    assert case.store.live_manifest()["build"] == second.index.manifest["build"]
    reader = case.engine(tiny_corpus, build="never")
    assert reader.index.manifest["build"] == second.index.manifest["build"] and "Kittens" in reader.document("cats.txt").text


# -- rebuilds and filters -----------------------------------------------------------------------------


def test_a_rebuild_after_an_edit_and_a_removal_answers_from_the_new_documents(case, tiny_corpus):
    first = case.engine(tiny_corpus)
    before = searches(first)
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    (tiny_corpus / "owls.txt").write_text(OWLS, encoding="utf-8")
    (tiny_corpus / "budget.txt").unlink()
    again = case.engine(tiny_corpus)
    assert sorted(again.index.docs) == ["cats.txt", "owls.txt", "page.html", "rivers.md"]
    assert again.document("cats.txt").text == KITTENS
    assert again.search("How many meals do kittens need?", k=1)[0].chunk.source == "cats.txt"
    assert again.search("barn owls hunting voles", k=1, mode="bm25")[0].chunk.source == "owls.txt"
    assert not any(h.chunk.source == "budget.txt" for hits in searches(again).values() for h in hits)
    with pytest.raises(UnknownDocumentError, match="budget.txt"):
        again.search("road repairs", sources=["budget.txt"])
    assert searches(first) == before  # the engine loaded before answers exactly as it did


def test_document_filters_are_obeyed_at_any_depth(case, tiny_corpus):
    engine = case.engine(tiny_corpus)
    stage, q = engine.retriever.first_stage, "Thames London: how often are cats fed by the council?"
    by_row = {i: c.source for i, c in enumerate(engine.index.chunks)}
    qvec = engine.retriever.embed_query(q)
    for sources in (["cats.txt"], ["rivers.md", "page.html"], ["page.html"]):
        assert {by_row[int(r)] for r in stage.dense_candidates(qvec, sources, 50)} == set(sources)
        assert {by_row[r] for r in stage.bm25_scores(q, sources, 50)} <= set(sources)
        for mode in ("dense", "bm25", "hybrid"):
            assert {h.chunk.source for h in engine.search(q, k=10, mode=mode, sources=sources)} <= set(sources)
    assert len(stage.dense_candidates(qvec, None, 10_000)) == len(by_row)  # deeper than the index: all of it
    assert stage.dense_candidates(qvec, None, 0).tolist() == [] and stage.bm25_scores("cats", None, 0) == {}
    assert stage.bm25_scores("zzzz qqqq", None, 5) == {}  # no word in the index: nothing, not zeros
    assert stage.chunk_vectors([]).shape[0] == 0


def test_document_filters_after_a_rebuild_and_in_the_build_before(case, tiny_corpus):
    first = case.engine(tiny_corpus)
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    (tiny_corpus / "owls.txt").write_text(OWLS, encoding="utf-8")
    (tiny_corpus / "budget.txt").unlink()
    again = case.engine(tiny_corpus)
    q = "Thames London: how often do cats and owls eat?"
    for sources in (["cats.txt", "owls.txt"], ["rivers.md"], ["owls.txt"]):
        for mode in ("dense", "bm25", "hybrid"):
            hits = again.search(q, k=10, mode=mode, sources=sources)
            assert hits and {h.chunk.source for h in hits} <= set(sources), (sources, mode)
    assert all("Kittens" in h.chunk.text for h in again.search(q, k=10, sources=["cats.txt"]))
    old = first.search(q, k=10, mode="bm25", sources=["cats.txt", "budget.txt"])  # the build before filters its own
    assert old and {h.chunk.source for h in old} <= {"cats.txt", "budget.txt"}
    assert all("Kittens" not in h.chunk.text for h in old)


# -- faults -------------------------------------------------------------------------------------------


def test_a_publish_killed_at_the_flip_leaves_the_live_build_whole(case, tiny_corpus, monkeypatch):
    first = case.engine(tiny_corpus)
    live, before = first.index.manifest["build"], searches(first)
    (tiny_corpus / "cats.txt").write_text(KITTENS, encoding="utf-8")
    with monkeypatch.context() as m:
        case.kill_the_flip(m)
        with pytest.raises(RuntimeError, match="killed at the flip"):
            case.engine(tiny_corpus)
    assert case.store.live_manifest()["build"] == live
    assert searches(first) == before  # the engine loaded before answers exactly as before
    whole = case.store.load()  # as does a reader that loads now: the live build, whole
    assert whole.manifest["build"] == live and "Kittens" not in whole.docs["cats.txt"].text
    assert whole.chunks == first.index.chunks and np.array_equal(whole.sentences, first.index.sentences)
    reader = Retriever(whole, case.emb, first.settings.retrieval, first.settings.index)
    assert {(q, mode): reader.search(q, k=4, mode=mode) for q, mode in before} == before
    healed = case.engine(tiny_corpus)  # the next build goes through
    assert healed.index.manifest["build"] != live and "Kittens" in healed.document("cats.txt").text
    assert case.store.live_manifest()["build"] == healed.index.manifest["build"]


def test_a_damaged_build_is_refused_with_what_to_run(case, tiny_corpus):
    engine = case.engine(tiny_corpus)
    case.damage(engine)
    with pytest.raises(IndexCorruptError, match=r"Run `python -m qa index --force") as got:
        case.store.load()
    assert "\n" not in str(got.value)
    with pytest.raises(IndexCorruptError, match="python -m qa index --force"):
        case.engine(tiny_corpus, build="never")


def test_the_command_a_damaged_build_names_repairs_it(case, tiny_corpus):
    """What the refusal says to run (`qa index --force`) must mend the damage, in either store: Milvus keeps the
    versions it holds sealed across builds, so a forced publish writes them again rather than trusting the seal."""
    engine = case.engine(tiny_corpus)
    before = searches(engine)
    case.damage(engine)
    with pytest.raises(IndexCorruptError):
        case.store.load()
    case.engine(tiny_corpus, build="force")
    mended = case.engine(tiny_corpus, build="never")
    assert searches(mended) == before


# -- parity -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_stores(tmp_path_factory):
    """The seed corpus built once with the bag-of-words embedder, in the local store and in Milvus Lite:
    {"local": engine, "milvus": engine}."""
    root = tmp_path_factory.mktemp("seed-stores")
    local, milvus = LocalCase(root), MilvusCase(root)
    milvus.emb = local.emb
    engines = {"local": local.engine(SEEDS)}
    engines["milvus"] = milvus.engine(SEEDS)  # published from the same local build
    yield engines
    milvus.close()


def seed_questions() -> list[str]:
    return [json.loads(line)["question"] for line in (ROOT / "evals" / "questions.jsonl").open(encoding="utf-8")]


def cosines(stage, qvec, rows) -> dict[int, float]:
    """{row: the question's cosine with its chunk} of a dense list, checked to be best first."""
    scores = stage.chunk_vectors(rows) @ qvec if len(rows) else np.zeros(0)
    assert np.all(np.diff(scores) <= 1e-6), scores  # best first
    return {int(r): float(sc) for r, sc in zip(rows, scores)}


def same_top(a: dict[int, float], b: dict[int, float], what) -> None:
    """Two top lists hold the same rows with the same scores, except rows tied at the cut, where either may keep
    some of the tie (faiss's brute-force comparisons allow the same)."""
    assert len(a) == len(b), what
    for row in a.keys() & b.keys():
        assert b[row] == pytest.approx(a[row], rel=1e-4, abs=1e-6), (what, row)
    for got, other in ((a, b), (b, a)):
        cut = min(got.values(), default=0.0)
        for row in got.keys() - other.keys():
            assert got[row] == pytest.approx(cut, rel=1e-4, abs=1e-6), (what, row)


def same_candidates(local, remote, q: str, qvec, sources, depth: int) -> None:
    what = (q, sources, depth)
    dense = (cosines(local, qvec, stage.dense_candidates(qvec, sources, depth)) for stage in (local, remote))
    same_top(*dense, what)
    bm25 = local.bm25_scores(q, sources, depth), remote.bm25_scores(q, sources, depth)
    same_top(bm25[0], {row: score / BM25_FACTOR for row, score in bm25[1].items()}, what)


def test_both_stores_give_equal_candidates_and_scores_on_the_seed_questions(seed_stores):
    local, remote = seed_stores["local"], seed_stores["milvus"]
    stages = local.retriever.first_stage, remote.retriever.first_stage
    assert isinstance(stages[0], LocalFirstStage) and isinstance(stages[1], MilvusFirstStage)
    assert remote.index.dense is None  # really answered by Milvus
    assert [c.id for c in remote.index.chunks] == [c.id for c in local.index.chunks]
    assert np.array_equal(remote.index.sentences, local.index.sentences)
    depth, docs = RetrievalSettings().candidates, sorted(local.index.docs)
    questions = seed_questions()
    for i, q in enumerate(questions):
        qvec = local.retriever.embed_query(q)
        same_candidates(*stages, q, qvec, None, depth)
        if i % 20 == 0:  # every 20th also under document filters and at other depths
            for sources, k in ((docs[:1], 3), (docs[1:3], 1), (docs[2:], depth)):
                same_candidates(*stages, q, qvec, sources, k)
    rows = list(range(len(local.index.chunks)))
    np.testing.assert_allclose(stages[0].chunk_vectors(rows), stages[1].chunk_vectors(rows), atol=1e-6)
    for q in questions[:10]:  # and whole answers: fused scores and citations
        a, b = local.search(q, k=5), remote.search(q, k=5)
        assert [h.score for h in b] == pytest.approx([h.score for h in a])
        assert [p.citation for p in remote.ask(q, k=2).passages] == [p.citation for p in local.ask(q, k=2).passages]
