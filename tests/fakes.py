"""A stand-in for the embedding model: deterministic bag-of-words vectors, no model to load.

Enough for tests of building, storing and retrieving, where what matters is
that texts sharing words are near each other, not what a real model thinks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np


class FakeEmbedder:
    """Hashes each lower-cased word into one of ``dim`` buckets; unit-length float32 vectors."""

    name = "fake-bag-of-words"

    def __init__(self, dim: int = 64, max_seq_length: int = 256) -> None:
        self.dim = dim
        self.max_seq_length = max_seq_length
        self.calls: list[int] = []  # how many texts each encode call embedded

    model = property(lambda self: self)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms == 0, 1, norms)
        if progress:
            progress(len(texts), len(texts))
        return out

    def encode_documents(self, texts: Sequence[str], progress=None) -> np.ndarray:
        return self.encode(texts, progress)


def model_free_settings(**chunk):
    """Settings with no shipped model in them: no token vectors, no cross-encoder (cosine sentence scores)."""
    from qa.config import ChunkSettings, IndexSettings, RerankSettings, Settings

    return Settings(
        chunk=ChunkSettings(**chunk), index=IndexSettings(late_interaction=False),
        rerank=RerankSettings(model="none", sentences="cosine"),
    )
