"""A build's ColBERT token vectors as files: ``late_vectors.npy``, ``late_offsets.npy``, ``late_spans.npy`` and, for
coded vectors, ``late_codec.npy``. ``LateWriter`` writes them chunk by chunk; ``read_late`` maps them back, widened
to float32 when they fit in memory."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ..records import SPAN_DTYPE, TokenIndex, stored_spans
from .record_files import _save_npy

LATE_FILES = ("late_vectors.npy", "late_offsets.npy", "late_spans.npy")
LATE_CODEC = "late_codec.npy"  # the codec of late_vectors.npy's codes (qa/models/late_codec.py); absent: float16 vectors


class _Appended:
    """A .npy file of rows appended as they come: its header, written last, has room for any shape."""

    HEADER = 128

    def __init__(self, path: Path) -> None:
        self.path, self.f, self.rows, self.dtype, self.width = path, open(path, "wb"), 0, None, None
        self.f.write(b"\0" * self.HEADER)

    def add(self, array: np.ndarray) -> None:
        if self.dtype is None:
            self.dtype, self.width = array.dtype, array.shape[1]
        if array.dtype != self.dtype or array.shape[1] != self.width:
            raise ValueError(f"{self.path.name}: rows of {array.dtype} x {array.shape[1]} after {self.dtype} x {self.width}")
        self.f.write(np.ascontiguousarray(array).tobytes())
        self.rows += len(array)

    def close(self, dtype, width: int) -> None:
        """Write the header (``dtype`` and ``width`` when no row came) and sync."""
        d = {"descr": np.lib.format.dtype_to_descr(np.dtype(self.dtype or dtype)), "fortran_order": False,
             "shape": (self.rows, int(self.width or width))}
        text = repr(d).encode("latin1").ljust(self.HEADER - 11) + b"\n"
        self.f.seek(0)
        self.f.write(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text)
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


class LateWriter:
    """Writes a build's token rows chunk by chunk as late.build hands them over (its ``sink``), so they are
    never all in memory; ``close`` adds the offsets and the codec and returns the index, mapped from the files."""

    def __init__(self, build: Path) -> None:
        self.build = build
        self.vectors, self.spans = _Appended(build / LATE_FILES[0]), _Appended(build / LATE_FILES[2])
        self.lengths: list[int] = []

    def add(self, rows: np.ndarray, spans: np.ndarray) -> None:
        self.vectors.add(rows)
        self.spans.add(stored_spans(spans))
        self.lengths.append(len(rows))

    def close(self, codec) -> TokenIndex:
        self.vectors.close(np.float16 if codec is None else np.uint8, 384 if codec is None else codec.code_size)
        self.spans.close(SPAN_DTYPE, 2)
        _save_npy(self.build / LATE_FILES[1], np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int64))
        if codec is not None:
            _save_npy(self.build / LATE_CODEC, codec.to_bytes())
        return read_late(self.build, widen=False)


LATE_FLOAT32_MAX_BYTES = 512 * 2**20
"""Token vectors are stored in float16 or as a codec's codes; up to this size in float32 they are widened
(decoded) once at load, since MaxSim over float16 input spent 3.5x as long converting as multiplying
(134 vs 38 ms for 300 chunks, benchmarks/rerank_latency.py). Larger indexes stay as stored, mapped from
the file rather than read into memory (float16, 384 dimensions: 8 GB at 100k chunks; codes of rpq48 0.5 GB),
and widen only the rows a query scores."""


def widened(vectors: np.ndarray) -> np.ndarray | None:
    """float32 vectors a store holds in memory, when they take at most LATE_FLOAT32_MAX_BYTES, else None."""
    return np.array(vectors, dtype=np.float32) if vectors.size * 4 <= LATE_FLOAT32_MAX_BYTES else None


def read_late(build: Path, widen: bool = True) -> TokenIndex | None:
    """The token rows ``LateWriter`` wrote (or an older build's float16 vectors), mapped from the files;
    with ``widen``, also every vector as float32 when they fit (``LATE_FLOAT32_MAX_BYTES``)."""
    if not (build / LATE_FILES[0]).exists():
        return None
    vectors = np.load(build / LATE_FILES[0], allow_pickle=False, mmap_mode="r")
    offsets = np.load(build / LATE_FILES[1], allow_pickle=False)
    spans = np.load(build / LATE_FILES[2], allow_pickle=False, mmap_mode="r")
    codec = None
    if (build / LATE_CODEC).exists():
        from ..models import late_codec

        codec = late_codec.from_bytes(np.load(build / LATE_CODEC, allow_pickle=False))
    index = TokenIndex(vectors, offsets, spans, codec=codec)
    return with_floats(index) if widen else index


def with_floats(index: TokenIndex) -> TokenIndex:
    """``index`` with every vector in float32 (widened or decoded) when they fit in LATE_FLOAT32_MAX_BYTES."""
    if index.codec is None:
        return dataclasses.replace(index, floats=widened(index.vectors))
    if len(index.vectors) * index.codec.dim * 4 <= LATE_FLOAT32_MAX_BYTES:
        return dataclasses.replace(index, floats=index.codec.decode(index.vectors))
    return index
