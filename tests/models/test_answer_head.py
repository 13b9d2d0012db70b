"""qa.models.answer_head: the linear answer head over the cross-encoder's hidden states, checked at load."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from qa.errors import ModelNotFoundError
from qa.models import answer_head as ah
from qa.models import onnx_models as om


def test_head_inputs_are_read_by_position_and_segment():
    # two pairs, 6 positions: [CLS] q [SEP] s s [SEP], and [CLS] q [SEP] s [SEP] [PAD]
    types = np.array([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]])
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    hidden = np.arange(2 * 6 * 2, dtype=np.float32).reshape(2, 6, 2)
    pooled = np.array([[7.0, 8.0], [9.0, 10.0]], dtype=np.float32)
    head = ah.Head((("logits", "logit"), ("h", "cls"), ("p", "cls"), ("h", "second_mean"), ("h", "first_mean")),
                   np.zeros(9), np.ones(9), np.ones(9))
    x = head.features({"h": hidden, "p": pooled}, np.array([1.5, -2.0]), types, mask)
    assert x.shape == (2, 9)
    assert x[:, 0].tolist() == [1.5, -2.0]
    assert x[0, 1:3].tolist() == hidden[0, 0].tolist() and x[1, 3:5].tolist() == pooled[1].tolist()
    assert np.allclose(x[0, 5:7], hidden[0, 3:5].mean(0)), "the sentence's pieces, not its closing [SEP]"
    assert np.allclose(x[1, 5:7], hidden[1, 3]), "row 2's sentence is one piece; padding is not read"
    assert np.allclose(x[0, 7:9], hidden[0, [0, 1, 2, 5]].mean(0)), "[CLS], the question, both [SEP]"
    assert np.allclose(x[1, 7:9], hidden[1, [0, 1, 2, 4]].mean(0))
    assert np.allclose(head.score(x), x.sum(1))


def test_the_shipped_head_is_checked_and_a_damaged_one_says_how_to_restore_it(tmp_path):
    head = ah.read_head()
    assert hashlib.sha256(ah.HEAD_FILE.read_bytes()).hexdigest() == ah.HEAD_SHA256
    assert len(head.mean) == len(head.scale) == len(head.weights) > 1
    assert {r for _, r in head.inputs} <= set(ah.READINGS)
    bad = tmp_path / "answer_head.npz"
    bad.write_bytes(ah.HEAD_FILE.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelNotFoundError, match="does not match.*git checkout"):
        ah.read_head(bad)
    with pytest.raises(ModelNotFoundError, match="cannot be read.*git checkout"):
        ah.read_head(tmp_path / "missing.npz")


@pytest.mark.model
def test_one_run_gives_the_cross_encoders_own_logits_and_the_head_prefers_answers():
    question = "How many leaders did the report interview?"
    sentences = ["The King's Fund published a report on leading integrated care systems this week.",
                 "Through interviews with 16 leaders, the report explores what it takes to lead a system.",
                 "The weather in Spain is mostly sunny."]
    scorer = ah.AnswerScorer().load()
    logits, answers = scorer.score(question, sentences)
    assert np.allclose(logits, om.CrossEncoder().load().score(question, sentences), atol=1e-5)
    assert answers.shape == (3,) and np.isfinite(answers).all()
    assert answers[1] == answers.max(), "the sentence that holds the number answers 'how many'"
    _, x = scorer.features(question, sentences)
    assert np.allclose(scorer.head.score(x), answers, atol=1e-4)


def test_outputs_are_added_on_the_wire_as_the_onnx_package_adds_them():
    import onnx

    raw = (om.check_files("reranker_en") / "model.onnx").read_bytes()
    tensors = ah.read_head().tensors
    ours = onnx.load_from_string(om.with_outputs(raw, tensors))
    theirs = onnx.load_from_string(raw)
    for t in tensors:
        theirs.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    assert list(ours.graph.output) == list(theirs.graph.output)
    assert [o.name for o in ours.graph.output] == ["logits", *tensors]
    assert ours.graph.node == theirs.graph.node and ours.opset_import == theirs.opset_import
    with pytest.raises(ValueError, match="not an ONNX model"):
        om.with_outputs(b"\x07not a model", tensors)


@pytest.mark.model
def test_a_head_that_asks_for_tensors_the_model_lacks_says_what_to_do():
    head = ah.Head((("/no/such/tensor", "cls"),), np.zeros(384), np.ones(384), np.zeros(384))
    with pytest.raises(ModelNotFoundError, match="fitted on another model.*fit.py"):
        ah.AnswerScorer(head=head).load()
