"""The first stage's one seam: every store answers the Retriever's three candidate questions the same way.

``FirstStage`` is what the Retriever asks of a store: the chunks nearest a question's vector, the chunks BM25
scores highest, and stored chunk vectors, each limited to some documents. ``LocalFirstStage`` answers from the
build's files (FAISS and bm25s), ``MilvusFirstStage`` from the Milvus collections a build was published to
(qa/index/milvus_store.py loads it; pymilvus is imported only when a client is first made).
The store contract (tests/index/test_store_contract.py) holds both to the same rows and scores on the seed
questions (BM25 times k1 + 1 in Milvus) and to the document filter at any depth.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..config import IndexSettings, RetrievalSettings
from ..errors import IndexCorruptError, IndexStaleError
from ..ingest import lexical
from . import milvus_rows
from .milvus_client import MilvusUnavailableError, client, guard, released


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


class MilvusFirstStage:
    """The Retriever's candidate lists from one build's rows (see Retriever.dense_candidates).

    Dense searches are filtered to the build's document versions, BM25 searches read the build's own terms
    collection, and hits' keys are mapped to the build's rows. A server that stops answering fails the question
    with MilvusUnavailableError; the next question connects again (``client`` by URI) and loads the collections
    again if the server restarted.
    """

    def __init__(self, uri: str, coll: dict[str, str], terms: str, build_id: str, manifest_key: str, keys: list[str],
                 docs: dict[str, str], settings: IndexSettings) -> None:
        self.uri, self.build_id, self.manifest_key, self.settings = uri, build_id, manifest_key, settings
        self.chunks, self.terms, self.records = (milvus_rows.loaded(client(uri), n) for n in (coll["chunks"], terms, coll["records"]))
        self.keys, self.docs = keys, docs  # docs: {source: version key}
        self.rows = {k: i for i, k in enumerate(keys)}
        self.size = len(keys)

    @property
    def client(self):
        return client(self.uri)

    def call(self, fn):
        """``fn(client)``, loading the build's collections once more if a restarted server holds them released."""
        with guard(self.uri):
            try:
                return fn(self.client)
            except Exception as e:
                if not released(e):
                    raise
                for name in (self.chunks, self.terms, self.records):
                    if self.client.has_collection(name):
                        milvus_rows.loaded(self.client, name)
                return fn(self.client)

    def check(self) -> None:
        """Raise IndexStaleError if the build's manifest record is gone: a later publish is deleting its rows."""
        try:
            kept = self.call(lambda c: c.query(self.records, ids=[self.manifest_key], output_fields=["owner"]))
        except MilvusUnavailableError:
            raise
        except Exception:
            if self.call(lambda c: c.has_collection(self.records)):
                raise
            kept = []  # its whole set was dropped
        if not kept:
            raise IndexStaleError(f"Milvus no longer keeps build {self.build_id}, which this engine loaded: newer builds "
                                  "replaced it. Load the live one: run the command again (the page reloads by itself).")

    def _search(self, collection: str, data, field: str, metric: str, versions, depth: int) -> list[tuple[int, float]]:
        try:
            got = self.call(lambda c: c.search(collection, data=[data], anns_field=field, limit=min(depth, self.size),
                                               output_fields=["key"], search_params={"metric_type": metric},
                                               **({} if versions is None else {"filter": milvus_rows.one_of("doc", versions)}))[0])
        except MilvusUnavailableError:
            raise
        except Exception:
            self.check()  # a collection dropped under it says so
            raise
        self.check()  # after the search: the record is deleted before the rows, so the search saw them all
        return [(self.rows[h["key"]], float(h["distance"])) for h in got]

    def dense_candidates(self, qvec: np.ndarray, sources: list[str] | None, depth: int) -> np.ndarray:
        """Rows of the ``depth`` chunks nearest to ``qvec`` (inner product, exact), best first."""
        if depth <= 0 or not self.size:
            return np.zeros(0, dtype=np.int64)
        versions = [self.docs[s] for s in sources or self.docs]  # the chunk collection holds other builds' rows too
        got = self._search(self.chunks, np.asarray(qvec, dtype=np.float32).tolist(), "dense", "IP", versions, depth)
        return np.array([r for r, _ in got], dtype=np.int64)

    def bm25_scores(self, question: str, sources: list[str] | None, depth: int) -> dict[int, float]:
        """{row: BM25 score} of the ``depth`` best-matching chunks, scored by Milvus's BM25 function over ``terms``."""
        terms = " ".join(lexical.query_terms(question, self.settings))
        if depth <= 0 or not self.size or not terms:
            return {}
        versions = [self.docs[s] for s in sources] if sources else None  # the build's own collection: no filter needed
        # Milvus Lite reports BM25 as a negated distance (best first, most negative); the score is its size.
        return {r: abs(d) for r, d in self._search(self.terms, terms, "sparse", "BM25", versions, depth) if d != 0}

    def chunk_vectors(self, rows) -> np.ndarray:
        """The stored chunk vectors of ``rows``, in that order."""
        keys = [self.keys[int(r)] for r in rows]
        got = {r["key"]: r["dense"] for r in self.call(lambda c: c.query(self.chunks, ids=keys, output_fields=["dense"]))}
        if len(got) < len(set(keys)):
            self.check()
            raise IndexCorruptError(f"Milvus lacks chunk rows of build {self.build_id}. Run `python -m qa index --force`.")
        return np.array([got[k] for k in keys], dtype=np.float32)
