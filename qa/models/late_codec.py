"""Compressed ColBERT token vectors: residual product quantisation against k-means centroids, as PLAID does.

A codec is trained once per build on a sample of the corpus's own token vectors (the first
``TRAIN_TOKENS`` a build encodes; faiss k-means and PQ training use a fixed seed), stored in the
build beside the codes, and kept by the next build so that its codes can be copied rather than
encoded again. Each token is stored as the id of its nearest of 1,024 centroids (2 bytes) and a
product-quantised residual (``m`` sub-quantisers of 8 bits each): ``rpq48`` is 50 bytes a token
against float16's 768 (15x). ``decode`` gives float32 vectors for the rows a question scores, so
MaxSim works on a few hundred chunks' rows and never widens the whole index.

Measured on the seed build (30,729 tokens, 120 questions' query vectors, MaxSim over its 311 chunks,
benchmarks/late_codec.py): the share of questions whose best chunk is the exact float16 one was 0.69
for plain PQ48 (48 bytes), 0.79 for OPQ48 (48 bytes, a rotation to learn), 0.75 / 0.82 for PQ64 / OPQ64
(64 bytes), and 0.83 for the residual ``IVF1024,PQ48`` (50 bytes), which also decodes fastest
(17 ms per 30k rows, against 27-200 ms). The eval figures that chose the default are in
qa/config.py (``IndexSettings.late_codec``).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal((5000, 96)).astype(np.float32)
>>> x /= np.linalg.norm(x, axis=1, keepdims=True)
>>> codec = train(x, "rpq48")
>>> codes = codec.encode(x[:3])
>>> codes.shape, codes.dtype.name
((3, 50), 'uint8')
>>> codec.decode(codes).shape
(3, 96)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..config import LATE_CODECS as CODECS  # name -> faiss factory string; ``none``: float16 vectors

TRAIN_TOKENS = 65_536
"""Token vectors a codec is trained on: 64 per centroid of 1,024, and 256 per PQ code (faiss asks for 39)."""

MIN_TRAIN_TOKENS = 4_096
"""Fewer token vectors than this (a corpus of a few dozen chunks) stay float16: 4 per centroid is the least
k-means makes sense of, and such an index is a few MB anyway."""

SEED = 1234


def check_name(name: str) -> str:
    if name not in CODECS:
        raise ValueError(f"Unknown late-interaction codec {name!r}; choose one of: {', '.join(CODECS)}")
    return name


@dataclass(frozen=True, eq=False)
class Codec:
    """A trained faiss encoder of token vectors (it holds no vectors): ``encode`` to uint8 codes, ``decode`` back."""

    name: str
    index: object  # a trained faiss index used only for sa_encode / sa_decode

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def code_size(self) -> int:
        return int(self.index.sa_code_size())

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """(n, code_size) uint8 codes of (n, dim) vectors."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, self.code_size), dtype=np.uint8)
        return self.index.sa_encode(x)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit vectors of (n, code_size) codes. Scaled back to unit length as the originals
        were: on the seed build that made MaxSim's best chunk the exact one for 0.858 of 120 questions, not 0.825."""
        c = np.ascontiguousarray(codes, dtype=np.uint8)
        if len(c) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.index.sa_decode(c)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
        return out

    def to_bytes(self) -> np.ndarray:
        """The codec as a uint8 array (faiss serialisation), the name first: what ``from_bytes`` reads."""
        import faiss

        head = np.frombuffer(self.name.encode().ljust(16), dtype=np.uint8)
        return np.concatenate([head, faiss.serialize_index(self.index)])

    @cached_property
    def key(self) -> str:
        """A content hash: codes are interchangeable exactly between codecs with the same key."""
        return hashlib.sha256(self.to_bytes().tobytes()).hexdigest()[:16]


def from_bytes(data: np.ndarray) -> Codec:
    import faiss

    data = np.asarray(data, dtype=np.uint8)
    name = bytes(data[:16]).decode().strip()
    return Codec(check_name(name), faiss.deserialize_index(np.ascontiguousarray(data[16:])))


def train(sample: np.ndarray, name: str) -> Codec | None:
    """A codec of kind ``name`` fitted to ``sample`` (token vectors, float); None for ``none`` or too small a sample."""
    import faiss

    factory = CODECS[check_name(name)]
    if factory is None or len(sample) < MIN_TRAIN_TOKENS:
        return None
    x = np.ascontiguousarray(sample, dtype=np.float32)
    if len(x) > TRAIN_TOKENS:
        x = x[np.sort(np.random.default_rng(SEED).choice(len(x), TRAIN_TOKENS, replace=False))]
    index = faiss.index_factory(x.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    typed = faiss.downcast_index(index)  # a view: ``index`` owns the object
    if hasattr(typed, "cp"):  # the coarse k-means of a residual codec
        typed.cp.seed = SEED
        typed.cp.min_points_per_centroid = MIN_TRAIN_TOKENS // 1024  # faiss warns below 39; 4 is this module's floor
    typed.pq.cp.seed = SEED
    typed.pq.cp.min_points_per_centroid = MIN_TRAIN_TOKENS // 256
    typed.do_polysemous_training = False  # for Hamming search, which decoding never uses; it made training 20x slower
    index.train(x)
    return Codec(name, index)
