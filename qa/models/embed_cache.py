"""EmbeddingCache: vectors by sha256 of the embedded text (embed.text_key), for one model, saved atomically as .npz
and saved as they come, so a build never embeds unchanged text twice and an interrupted one resumes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .embed import Embedder, text_key
from .pooling import Ranges, pool_key

SAVE_EVERY = 2048
SAVE_INTERVAL_S = 30.0
"""An interrupted build loses at most this long of embedding (and a part of SAVE_EVERY texts)."""


class EmbeddingCache:
    """Vectors by sha256 of the embedded text, for one model; saved atomically as .npz."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as data:
                    for k, v in zip(data["keys"], data["vectors"]):
                        self.vectors[str(k)] = v
            except Exception:
                self.vectors = {}  # a damaged cache is only a lost speed-up

    def embed(self, embedder: Embedder, texts: Sequence[str], progress=None,
              encode: Callable[..., np.ndarray] | None = None) -> tuple[np.ndarray, int]:
        """Vectors for ``texts``, embedding only the ones not cached. Returns (vectors, how many were embedded).

        ``encode(texts, progress=...)`` computes the missing vectors (default: ``embedder.encode_documents`` here;
        a build on Ray passes its workers').

        New vectors are saved as they come (a part every SAVE_EVERY texts, at most every SAVE_INTERVAL_S),
        so a build killed midway resumes without embedding again what it had done.
        """
        keys = [text_key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self.vectors}.items())
        last_save = time.monotonic()
        for at in range(0, len(todo), SAVE_EVERY):
            part = todo[at : at + SAVE_EVERY]
            done = at

            def step(d, t, done=done):
                if progress:
                    progress(done + d, len(todo))

            new = (encode or embedder.encode_documents)([t for _, t in part], progress=step)
            for (k, _), v in zip(part, new):
                self.vectors[k] = v
            if at + SAVE_EVERY < len(todo) and time.monotonic() - last_save >= SAVE_INTERVAL_S:
                self.save()
                last_save = time.monotonic()
        if not keys:
            return np.zeros((0, embedder.dim), dtype=np.float32), 0
        return np.vstack([self.vectors[k] for k in keys]).astype(np.float32), len(todo)

    def embed_pooled(self, embedder: Embedder, texts: Sequence[str], pools: Sequence[Sequence[Ranges]], special: bool = False,
                     progress=None, encode: Callable[..., tuple] | None = None) -> tuple[np.ndarray, list[np.ndarray], int]:
        """``embed`` for texts whose pass also pools spans (``Embedder.encode_documents_pooled``): (each text's
        vector, each text's pooled rows, NaN where a pool fell past what the model read, how many texts ran).

        A text runs again only when its own vector or one of its pools is not cached (``text_key`` and
        ``pool_key``: the text, the ranges and the tokens taken), so an edited document costs its own chunks.
        Texts that repeat run once, with every pool asked of any of them. ``encode(texts, pools, special,
        progress=...)`` computes them (default: the embedder here; a Ray build passes its workers')."""
        wanted: dict[str, tuple[str, dict]] = {}
        for t, ps in zip(texts, pools):
            wanted.setdefault(text_key(t), (t, {}))[1].update({pool_key(t, r, special): r for r in ps})
        todo = sorted((k, t, ps) for k, (t, ps) in wanted.items()
                      if k not in self.vectors or any(pk not in self.vectors for pk in ps))
        last_save = time.monotonic()
        for at in range(0, len(todo), SAVE_EVERY):
            part = todo[at : at + SAVE_EVERY]

            def step(d, t, done=at):
                if progress:
                    progress(done + d, len(todo))

            vecs, pooled = (encode or embedder.encode_documents_pooled)(
                [t for _, t, _ in part], [list(ps.values()) for _, _, ps in part], special, progress=step)
            for (k, _, ps), v, rows in zip(part, vecs, pooled):
                self.vectors[k] = v
                for pk, row in zip(ps, rows):
                    self.vectors[pk] = row  # NaN too: the text need not run again to learn it again
            if at + SAVE_EVERY < len(todo) and time.monotonic() - last_save >= SAVE_INTERVAL_S:
                self.save()
                last_save = time.monotonic()
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32), [], 0
        out = np.vstack([self.vectors[text_key(t)] for t in texts]).astype(np.float32)
        rows = [np.array([self.vectors[pool_key(t, r, special)] for r in ps], dtype=np.float32).reshape(len(ps), out.shape[1])
                for t, ps in zip(texts, pools)]
        return out, rows, len(todo)

    def save(self, keep: set[str] | None = None) -> None:
        items = [(k, v) for k, v in self.vectors.items() if keep is None or k in keep]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.npz")
        keys = np.array([k for k, _ in items], dtype="U64")
        vecs = np.vstack([v for _, v in items]) if items else np.zeros((0, 0), dtype=np.float32)
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path)
