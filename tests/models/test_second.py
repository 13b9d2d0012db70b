"""qa.models.second: bge-small-en vectors of texts and questions, and the best sentence per chunk."""

from __future__ import annotations

import numpy as np
import pytest

from qa.models import second

QUESTION = "Who leads Surrey Heartlands?"
RELEVANT = "Dr Claire Fuller is the senior responsible officer at Surrey Heartlands."
IRRELEVANT = "The weather in Spain is mostly sunny."


@pytest.mark.model
def test_texts_become_unit_vectors_that_depend_only_on_their_own_text():
    vecs = second.encode_documents([RELEVANT, IRRELEVANT, RELEVANT + " " + IRRELEVANT])
    assert vecs.shape == (3, second.DIM) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    alone = second.encode_documents([IRRELEVANT])[0]
    assert np.array_equal(alone, vecs[1])  # one text per run: its neighbours in the call change nothing
    assert second.encode_documents([]).shape == (0, second.DIM)


@pytest.mark.model
def test_a_question_is_read_with_the_retrieval_instruction_and_finds_its_answer():
    q = second.encode_query(QUESTION)
    assert not q.flags.writeable and second.encode_query(QUESTION) is q  # cached, shared read-only
    with_instruction = second.encode_documents([second.QUERY_INSTRUCTION + QUESTION])[0]
    assert np.allclose(q, with_instruction, atol=1e-4)
    assert not np.allclose(q, second.encode_documents([QUESTION])[0], atol=1e-3)
    relevant, irrelevant = second.encode_documents([RELEVANT, IRRELEVANT]) @ q
    assert relevant > irrelevant + 0.1


@pytest.mark.model
def test_a_text_past_the_models_length_is_cut_not_refused():
    long = " ".join(["Integrated care systems plan services together."] * 200)  # ~1,200 word pieces
    assert np.isclose(np.linalg.norm(second.encode_documents([long])[0]), 1, atol=1e-5)


def test_the_best_sentence_of_each_chunk_and_minus_one_where_it_has_none():
    scores, owners = np.array([0.1, 0.7, 0.9], dtype=np.float32), np.array([0, 0, 2])
    assert second.best_per_chunk(scores, owners, 3).tolist() == pytest.approx([0.7, -1.0, 0.9])
    assert second.best_per_chunk(scores[:0], owners[:0], 2).tolist() == [-1.0, -1.0]
