"""The first stage's one seam: every store answers the Retriever's three candidate questions the same way.

``FirstStage`` is what the Retriever asks of a store: the chunks nearest a question's vector, the chunks BM25
scores highest, and stored chunk vectors, each limited to some documents. ``LocalFirstStage`` answers from the
build's files (FAISS and bm25s); ``qa.index.milvus_store.MilvusFirstStage`` from a Milvus collection.
The store contract (tests/index/test_store_contract.py) holds both to the same rows and scores on the seed
questions (BM25 times k1 + 1 in Milvus) and to the document filter at any depth.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..config import IndexSettings, RetrievalSettings
from ..ingest import lexical


def rows_of(by_source: dict[str, np.ndarray], sources: list[str]) -> np.ndarray:
    """The chunk rows of ``sources``' documents, in row order."""
    return np.sort(np.concatenate([by_source[s] for s in sources]))


class FirstStage(Protocol):
    def dense_candidates(self, qvec: np.ndarray, sources: list[str] | None, depth: int) -> np.ndarray:
        """Rows of the ``depth`` chunks nearest to ``qvec`` (inner product), best first; only ``sources``' chunks
        when given."""

    def bm25_scores(self, question: str, sources: list[str] | None, depth: int) -> dict[int, float]:
        """{row: BM25 score > 0} of the ``depth`` best-matching chunks (only ``sources``' when given)."""

    def chunk_vectors(self, rows) -> np.ndarray:
        """The stored unit vectors of the chunks at ``rows``, in that order."""


class LocalFirstStage:
    """The first stage over a local build's FAISS index and bm25s index (qa/index/store.py LoadedIndex)."""

    def __init__(self, index, settings: RetrievalSettings = RetrievalSettings(),
                 index_settings: IndexSettings = IndexSettings()) -> None:
        self.index, self.settings, self.index_settings = index, settings, index_settings

    def _allowed(self, sources: list[str] | None) -> np.ndarray | None:
        return rows_of(self.index.by_source, sources) if sources else None

    def dense_candidates(self, qvec: np.ndarray, sources: list[str] | None, depth: int) -> np.ndarray:
        import faiss

        allowed = self._allowed(sources)
        index = self.index.dense
        depth = min(depth, index.ntotal if allowed is None else len(allowed))
        if depth <= 0:
            return np.zeros(0, dtype=np.int64)
        params = None
        if allowed is not None:
            if not isinstance(index, faiss.IndexFlat) and len(allowed) <= self.settings.exact_filter_max:
                # A few documents of a large collection: exact search over their rows, so the
                # approximate index's probed cells cannot miss them.
                scores = index.reconstruct_batch(allowed) @ qvec
                top = np.argpartition(-scores, depth - 1)[:depth] if depth < len(allowed) else np.arange(len(allowed))
                return allowed[top[np.argsort(-scores[top], kind="stable")]]
            sel = faiss.IDSelectorBatch(allowed)
            if isinstance(index, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=index.nprobe)
            else:
                params = faiss.SearchParameters(sel=sel)
        _, ids = index.search(qvec[None, :].astype(np.float32), depth, params=params)
        return ids[0][ids[0] >= 0]

    def bm25_scores(self, question: str, sources: list[str] | None, depth: int) -> dict[int, float]:
        words = lexical.query_terms(question, self.index_settings)
        if not words or depth <= 0:
            return {}
        scores = self.index.bm25.get_scores(words)
        allowed = self._allowed(sources)
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        nz = np.flatnonzero(scores > 0)
        if len(nz) > depth:
            nz = nz[np.argpartition(-scores[nz], depth - 1)[:depth]]
        return {int(i): float(scores[i]) for i in nz}

    def chunk_vectors(self, rows) -> np.ndarray:
        rows = [int(r) for r in rows]
        if not rows:
            return np.zeros((0, self.index.dense.d), dtype=np.float32)
        return np.vstack([self.index.dense.reconstruct(r) for r in rows])
