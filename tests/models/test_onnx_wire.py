"""qa.models.onnx_wire: the INT8 weights stored unsigned, so that every CPU computes the model's exact integers."""

from __future__ import annotations

import numpy as np
import pytest

from qa.models import onnx_models as om
from qa.models.onnx_wire import probe_model, unsigned_weights

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

K, N = 64, 8


def integer_model(weights: np.ndarray, zero_point: TensorProto, also_read: bool = False) -> bytes:
    """y = (a - 3) @ (weights - zero_point) as one MatMulInteger, with uint8 activations ``a``; ``also_read``: the
    zero point is an output of an Identity as well."""
    also = [helper.make_node("Identity", ["w_zero"], ["w_zero_seen"])] if also_read else []
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w", "a_zero", "w_zero"], ["y"]), *also],
        "one matmul",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [None, K])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [None, N])]
        + [helper.make_tensor_value_info("w_zero_seen", zero_point.data_type, [])] * also_read,
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.array(3, dtype=np.uint8), "a_zero"),
         zero_point])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def run(model: bytes, a: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(["y"], {"a": a})[0]


@pytest.mark.parametrize("zero_point", [
    helper.make_tensor("w_zero", TensorProto.INT8, [], [-5]),  # int32_data, negative: a 10-byte varint on the wire
    numpy_helper.from_array(np.array(7, dtype=np.int8), "w_zero"),  # raw_data
])
def test_unsigned_weights_give_the_exact_integers_where_signed_ones_may_saturate(zero_point):
    rng = np.random.default_rng(0)
    # Large weights against large activations: two products of 255 x 127 overflow the 16 bits AVX2's U8S8
    # kernel adds them in (on this project's AMD EPYC the signed model was off by up to 169,564).
    w = rng.choice(np.array([-128, 127, 120, -100], dtype=np.int8), size=(K, N))
    a = rng.integers(200, 256, size=(4, K), dtype=np.uint8)
    zp = int(numpy_helper.to_array(zero_point))
    exact = (a.astype(np.int64) - 3) @ (w.astype(np.int64) - zp)
    signed = integer_model(w, zero_point)
    unsigned = unsigned_weights(signed)
    assert np.array_equal(run(unsigned, a), exact), "U8U8 never saturates: the model's own integers on any CPU"
    m = onnx.load_from_string(unsigned)
    onnx.checker.check_model(m)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    assert inits["w"].dtype == np.uint8 and inits["w_zero"].dtype == np.uint8
    assert np.array_equal(inits["w"].astype(np.int64) - int(inits["w_zero"]), w.astype(np.int64) - zp), \
        "every weight less its zero point is what it was"
    assert inits["a_zero"].dtype == np.uint8 and int(inits["a_zero"]) == 3, "the activations' zero point is left alone"
    assert [n.SerializeToString() for n in m.graph.node] == [n.SerializeToString() for n in onnx.load_from_string(signed).graph.node]


def test_a_model_without_signed_integer_weights_comes_back_as_it_was():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "float", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    raw = helper.make_model(graph).SerializeToString()
    assert unsigned_weights(raw) is raw
    unsigned = unsigned_weights(integer_model(np.ones((K, N), np.int8), helper.make_tensor("w_zero", TensorProto.INT8, [], [0])))
    assert unsigned_weights(unsigned) is unsigned, "already unsigned: nothing to do"
    with pytest.raises(ValueError, match="not an ONNX model"):
        unsigned_weights(b"\x07not a model")


def test_a_zero_point_another_node_reads_keeps_its_type_and_so_does_its_weight():
    shared = integer_model(np.ones((K, N), np.int8), helper.make_tensor("w_zero", TensorProto.INT8, [], [2]), also_read=True)
    assert unsigned_weights(shared) is shared, "B and its zero point must agree, and the Identity reads int8"
    a = np.full((1, K), 9, np.uint8)
    assert np.array_equal(run(shared, a), np.full((1, N), 6 * (1 - 2) * K)), "still a model that runs"


@pytest.mark.parametrize("name", ["reranker_en", "colbert", "bge_small_en"])
def test_the_shipped_models_keep_every_weight_and_lose_every_signed_one(name):
    raw = (om.check_files(name) / "model.onnx").read_bytes()
    before, after = onnx.load_from_string(raw), onnx.load_from_string(unsigned_weights(raw))
    old = {t.name: numpy_helper.to_array(t) for t in before.graph.initializer}
    new = {t.name: numpy_helper.to_array(t) for t in after.graph.initializer}
    assert old.keys() == new.keys() and list(before.graph.node) == list(after.graph.node)
    matmuls = [n for n in after.graph.node if n.op_type == "MatMulInteger"]
    assert len(matmuls) > 70
    for n in matmuls:
        w, zp = n.input[1], n.input[3]
        assert new[w].dtype == np.uint8 and new[zp].dtype == np.uint8
        assert np.array_equal(new[w].astype(np.int64) - new[zp].astype(np.int64), old[w].astype(np.int64) - old[zp].astype(np.int64))
    changed = {n.input[i] for n in matmuls for i in (1, 3)}
    assert all(np.array_equal(new[k], old[k]) and new[k].dtype == old[k].dtype for k in old.keys() - changed)


def test_the_weights_a_session_gets_multiply_exactly_on_this_machine():
    model, a, exact = probe_model()
    signed = run(model, a)
    assert om.signed_products_exact() == np.array_equal(signed, exact)
    chosen = model if om.signed_products_exact() else unsigned_weights(model)
    assert np.array_equal(run(chosen, a), exact), "what session() would load gives the model's own integers"
