"""Two edits of a serialised ONNX model, made on the protobuf wire without the ``onnx`` package (importing it took
0.9 s of a cold ``qa ask``): extra outputs for the answer head, and unsigned INT8 weights so that every CPU
computes the same integers.

The wire format, as far as it is read here: a message is a run of fields, each a varint tag (field number << 3 |
wire type) and then a varint (type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5). A
repeated field's entries may come anywhere in their message. ``ModelProto.graph`` is field 7; in ``GraphProto``,
``node`` is field 1, ``initializer`` 5 and ``output`` 12; in ``NodeProto``, ``input`` is 1 and ``op_type`` 4; in
``TensorProto``, ``data_type`` is 2, ``int32_data`` 5, ``name`` 8 and ``raw_data`` 9.

    >>> _varint(_put_varint(300), 0)
    (300, 2)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

FLOAT, UINT8, INT8, INT32 = 1, 2, 3, 6
"""``TensorProto.DataType`` values."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[at]
        value |= (b & 0x7F) << shift
        at += 1
        if b < 0x80:
            return value, at
        shift += 7


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32 / int64 goes on the wire as its 64-bit two's complement
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: bytes | int) -> bytes:
    """One field: a varint (an int) or length-delimited bytes."""
    if isinstance(value, int):
        return _put_varint(number << 3) + _put_varint(value)
    return _put_varint(number << 3 | 2) + _put_varint(len(value)) + value


def _tensor_info(name: str, elem_type: int, shape: tuple[int, ...] | None = None) -> bytes:
    """A ``ValueInfoProto``: a tensor of ``elem_type``, of ``shape`` (any shape when None)."""
    dims = b"" if shape is None else _field(2, b"".join(_field(1, _field(1, d)) for d in shape))
    return _field(1, name.encode("utf-8")) + _field(2, _field(1, _field(1, elem_type) + dims))


def _fields(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, where the field starts, where its value starts, where it ends) of each field of
    the message in ``data[start:end]``; a length-delimited value starts after its length."""
    at, end = start, len(data) if end is None else end
    while at < end:
        tag, body = _varint(data, at)
        field, kind = tag >> 3, tag & 7
        if kind == 0:
            _, stop = _varint(data, body)
        elif kind == 1:
            stop = body + 8
        elif kind == 5:
            stop = body + 4
        elif kind == 2:
            size, body = _varint(data, body)
            stop = body + size
        else:
            raise ValueError(f"not an ONNX model: wire type {kind} at byte {at}")
        if stop > end:
            raise ValueError(f"not an ONNX model: a field at byte {at} runs past its message")
        yield field, kind, at, body, stop
        at = stop


def _graph(model: bytes) -> tuple[int, int, int]:
    """(where the graph field starts, where its bytes start, where they end)."""
    for field, kind, at, body, stop in _fields(model):
        if field == 7 and kind == 2:
            return at, body, stop
    raise ValueError("not an ONNX model: no graph")


def _with_graph(model: bytes, at: int, stop: int, graph: bytes) -> bytes:
    """``model`` with the graph field at ``model[at:stop]`` holding ``graph`` instead."""
    return b"".join((memoryview(model)[:at], _field(7, graph), memoryview(model)[stop:]))


def with_outputs(model: bytes, tensors: Sequence[str]) -> bytes:
    """A serialised ONNX model with the float tensors ``tensors`` added to its graph's outputs: each new
    ``ValueInfoProto`` (name, tensor of FLOAT of any shape) is appended to the graph's bytes. Names the graph
    does not produce are not checked here; onnxruntime refuses them when the session opens."""
    at, body, stop = _graph(model)
    extra = b"".join(_field(12, _tensor_info(name, FLOAT)) for name in tensors)  # GraphProto.output
    return _with_graph(model, at, stop, bytes(memoryview(model)[body:stop]) + extra)


def _integer_weights(model: bytes, body: int, stop: int, int8: set[str]) -> set[str]:
    """The names of what MatMulInteger nodes read as B and as B's zero point (inputs 1 and 3), of pairs that are
    both INT8 initializers (``int8``) and that nothing else reads: a tensor another node reads as well (a
    DequantizeLinear of the same zero point) keeps its type, and so does the rest of every pair it is in, so that
    B and its zero point always agree. (B with no zero point is left alone: its zero is not 128.)"""
    pairs: list[tuple[str, ...]] = []
    other: set[str] = set()  # read by some node other than as a MatMulInteger's B or B's zero point
    for field, kind, _, nb, ns in _fields(model, body, stop):
        if field != 1 or kind != 2:
            continue
        inputs, op = [], b""
        for f, k, _, vb, vs in _fields(model, nb, ns):
            if f == 1 and k == 2:
                inputs.append(bytes(model[vb:vs]).decode("utf-8"))
            elif f == 4 and k == 2:
                op = bytes(model[vb:vs])
        if op == b"MatMulInteger":
            pair = tuple(inputs[i] for i in (1, 3) if i < len(inputs) and inputs[i])
            if len(pair) == 2 and set(pair) <= int8:
                pairs.append(pair)
            else:
                other.update(pair)
            other.update(x for i, x in enumerate(inputs) if i not in (1, 3))
        else:
            other.update(inputs)
    while True:  # a pair sharing a name with a pair left alone is left alone too
        kept = {x for pair in pairs if other.isdisjoint(pair) for x in pair}
        left = {x for pair in pairs if not other.isdisjoint(pair) for x in pair}
        if left <= other:
            return kept
        other |= left


def _initializers(model: bytes, body: int, stop: int, every_field: bool = False):
    """(name, data type, (field start, value start, end)) of each initializer of the graph at ``model[body:stop]``;
    with ``every_field``, each other field of the graph too, as (None, None, span), in their order."""
    for field, kind, fa, vb, vs in _fields(model, body, stop):
        if field == 5 and kind == 2:
            name, dtype = None, None
            for f, k, _, tb, ts in _fields(model, vb, vs):
                if f == 8 and k == 2:
                    name = bytes(model[tb:ts]).decode("utf-8")
                elif f == 2 and k == 0:
                    dtype = _varint(model, tb)[0]
            yield name, dtype, (fa, vb, vs)
        elif every_field:
            yield None, None, (fa, vb, vs)


def _unsigned_tensor(model: bytes, body: int, stop: int) -> bytes:
    """An INT8 ``TensorProto`` as UINT8 holding every value plus 128: the same numbers once its zero point moves
    by the same 128. ``raw_data`` bytes have their top bit flipped (v + 128 for v in -128..127); ``int32_data``
    (a zero point is often stored there) is written again, packed."""
    out = bytearray()
    for field, kind, at, vb, vs in _fields(model, body, stop):
        if field == 2 and kind == 0:
            out += _field(2, UINT8)
        elif field == 9 and kind == 2:
            out += _field(9, (np.frombuffer(model, np.uint8, vs - vb, vb) ^ 0x80).tobytes())
        elif field == 5:
            if kind == 2:
                values, p = [], vb
                while p < vs:
                    v, p = _varint(model, p)
                    values.append(v)
            else:
                values = [_varint(model, vb)[0]]
            out += _field(5, b"".join(_put_varint(((v + (1 << 31)) % (1 << 32) - (1 << 31)) + 128) for v in values))
        else:
            out += model[at:vs]
    return bytes(out)


def unsigned_weights(model: bytes) -> bytes:
    """``model`` with the signed INT8 weights (and their zero points) of its MatMulInteger nodes stored unsigned.

    Why: onnxruntime multiplies uint8 activations by int8 weights (U8S8) with AVX2's VPMADDUBSW, which adds two
    products into a 16-bit integer and saturates it. CPUs with AVX-512 VNNI (most recent Intel servers) add into
    32 bits and do not, so the same INT8 file gave other scores, and worse ones, on AVX2-only CPUs (an AMD EPYC
    here: test lead .439 -> .367). Unsigned weights (U8U8) run through a kernel that widens each byte to 16 bits
    and sums the products in 32, which never saturates: every CPU then computes the exact integers the quantised
    model defines. ``(q - zero_point) x scale`` is unchanged when both move by 128, so no weight changes. A graph
    with no INT8 MatMulInteger weight is returned as it is (nor are subgraphs of control-flow nodes read: the
    models here have none).
    """
    at, body, stop = _graph(model)
    int8 = {name for name, dtype, _ in _initializers(model, body, stop) if dtype == INT8}
    targets = _integer_weights(model, body, stop, int8) if int8 else set()
    if not targets:
        return model
    parts = []
    for (name, _, (fa, vb, vs)) in _initializers(model, body, stop, every_field=True):
        if name in targets:
            parts.append(_field(5, _unsigned_tensor(model, vb, vs)))
        else:
            parts.append(bytes(memoryview(model)[fa:vs]))
    return _with_graph(model, at, stop, b"".join(parts))


def probe_model(rows: int = 4, inner: int = 384, cols: int = 16) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(a model of one MatMulInteger of uint8 activations by int8 weights, as the shipped models hold them,
    activations for it, the exact int32 product): activations near 255 and weights near +-127, so that two
    products overflow a 16-bit sum. Made here, on the wire, so that no ``onnx`` import is needed to run it."""
    rng = np.random.default_rng(0)
    w = rng.choice(np.array([-128, -100, 120, 127], dtype=np.int8), size=(inner, cols))
    a = rng.integers(200, 256, size=(rows, inner), dtype=np.uint8)
    weights = _field(1, inner) + _field(1, cols) + _field(2, INT8) + _field(8, b"w") + _field(9, w.tobytes())
    zero = _field(2, INT8) + _field(8, b"w0") + _field(9, b"\x00")
    node = b"".join(_field(1, x) for x in (b"a", b"w", b"", b"w0")) + _field(2, b"y") + _field(4, b"MatMulInteger")
    graph = (_field(1, node) + _field(2, b"probe") + _field(5, weights) + _field(5, zero)
             + _field(11, _tensor_info("a", UINT8, (rows, inner)))
             + _field(12, _tensor_info("y", INT32, (rows, cols))))
    model = _field(1, 8) + _field(7, graph) + _field(8, _field(2, 17))  # IR version 8, opset 17
    return model, a, a.astype(np.int64) @ w.astype(np.int64)
