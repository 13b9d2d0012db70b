"""Stand-ins for the models: deterministic bag-of-words vectors and clustered token vectors, no model to load.

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

    def cannot_pool(self) -> str | None:
        return None

    def encode_documents_pooled(self, texts: Sequence[str], pools, special: bool = False, progress=None):
        """Each text's vector (one text each in ``calls``) and, per pool, the vector of the words its ranges
        cover: for a sentence's own span, the vector its text would get alone. ``special`` adds the words
        "cls" and "sep"."""
        vecs = self.encode(texts, progress)
        pooled = []
        for t, ps in zip(texts, pools):
            words = [" ".join(t[a:b] for a, b in ranges) + (" cls sep" if special else "") for ranges in ps]
            rows = self._bag(words)
            pooled.append(rows.reshape(len(ps), self.dim))
        return vecs, pooled

    def _bag(self, texts: Sequence[str]) -> np.ndarray:
        calls = list(self.calls)
        out = self.encode(texts)
        self.calls = calls  # not a pass of its own
        return out


def model_free_settings(**chunk):
    """Settings with no shipped model in them: no token vectors, no cross-encoder (cosine sentence scores)."""
    from qa.config import ChunkSettings, IndexSettings, RerankSettings, Settings

    return Settings(
        chunk=ChunkSettings(**chunk), index=IndexSettings(late_interaction=False, second_dense=False),
        rerank=RerankSettings(model="none", sentences="cosine"),
    )


TOKEN_DIM, TOKEN_TOPICS = 96, 64
TOKEN_CENTRES = np.random.default_rng(1).standard_normal((TOKEN_TOPICS, TOKEN_DIM)).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def fake_tokens(text: str, n: int = 30) -> np.ndarray:
    """A chunk's ColBERT-like token vectors: a deterministic function of its text, near 3 of 64 topics (clustered
    like real token vectors, so a codec trained on them decodes them closely)."""
    rng = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16))
    topics = rng.choice(TOKEN_TOPICS, 3, replace=False)
    return unit(TOKEN_CENTRES[rng.choice(topics, n)] + 0.6 * rng.standard_normal((n, TOKEN_DIM)))


def fake_token_texts(n: int = 200) -> list[str]:
    """The texts whose ``fake_tokens`` the session's codec is trained on (tests/conftest.py ``token_codec``)."""
    return [f"chunk {i}" for i in range(n)]
