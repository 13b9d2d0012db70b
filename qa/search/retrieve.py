"""Retrieval over a loaded index: dense (FAISS + sentence-level rescoring), BM25, and their fusion."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import numpy as np

from ..models import late, second
from ..ingest import lexical
from ..config import IndexSettings, RetrievalSettings, check_mode
from ..models.embed import Embedder
from ..errors import UnknownDocumentError
from .fusion import ranked, rrf
from .spelling import Speller, model_words, vocabulary
from ..records import Hit
from ..index.first_stage import FirstStage, LocalFirstStage, rows_of
from ..index.store import LoadedIndex


_BESIDE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-query")
"""Runs the ColBERT and bge question encodings while the dense model embeds the same question (all release the GIL)."""


class Retriever:
    """Finds the best chunks of one loaded index for a question; settings are values, fixed per retriever."""

    def __init__(
        self, index: LoadedIndex, embedder: Embedder, settings: RetrievalSettings = RetrievalSettings(),
        index_settings: IndexSettings = IndexSettings(),
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.index_settings = index_settings
        # the store's own candidate search (Milvus), else the build's files
        self.first_stage: FirstStage = index.first_stage or LocalFirstStage(index, settings, index_settings)
        self._speller: Speller | None = None

    @property
    def speller(self) -> Speller:
        """The index's vocabulary as a speller (built at the first question; two threads may both build it, the
        same one)."""
        if self._speller is None:
            texts = [c.text for c in self.index.chunks] + [d.title for d in self.index.docs.values()]
            self._speller = Speller(vocabulary(texts), model_words())
        return self._speller

    def allowed_rows(self, sources: list[str] | None) -> np.ndarray | None:
        if not sources:
            return None
        unknown = [s for s in sources if s not in self.index.by_source]
        if unknown:
            raise UnknownDocumentError(
                f"Not in the index: {', '.join(unknown)}. Indexed documents: {', '.join(sorted(self.index.by_source))}"
            )
        return rows_of(self.index.by_source, sources)

    def uses_late(self, mode: str) -> bool:
        return mode == "hybrid" and self.index.late is not None and self.settings.late_weight > 0

    def uses_second(self, mode: str) -> bool:
        return mode == "hybrid" and self.index.second is not None and self.settings.second_weight > 0

    def embed_query(self, question: str, mode: str = "dense") -> np.ndarray:
        """The question's dense vector; in a mode that also reads ColBERT or bge, their encodings are made at the
        same time (late.encode_query and second.encode_query cache them for the lists that read them)."""
        pending = [_BESIDE.submit(encode, question) for encode, used in ((late.encode_query, self.uses_late(mode)),
                                                                         (second.encode_query, self.uses_second(mode))) if used]
        try:
            return self.embedder.encode([question])[0]
        finally:
            for p in pending:
                p.result()

    def sentence_scores(self, qvec: np.ndarray, row: int) -> np.ndarray:
        """Cosine of the question with each sentence of the chunk at ``row``, in the chunk's order."""
        rows = self.index.chunk_sentence_rows[row]
        if not rows:
            return np.zeros(0, dtype=np.float32)
        return self.index.sentences[rows] @ qvec

    def late_scores(self, question: str, allowed: np.ndarray | None, candidates: set[int], depth: int) -> dict[int, float]:
        """ColBERT MaxSim: of every allowed chunk up to ``late_full_max`` of them, else of the other lists' candidates."""
        n = len(self.index.chunks) if allowed is None else len(allowed)
        if n <= self.settings.late_full_max:
            rows = np.arange(len(self.index.chunks)) if allowed is None else allowed
        else:
            rows = np.array(sorted(candidates), dtype=np.int64)
        if not len(rows):
            return {}
        scores = late.score_chunks(late.encode_query(question), self.index.late, rows)
        top = np.argsort(-scores, kind="stable")[:depth]
        return {int(rows[i]): float(scores[i]) for i in top}

    @cached_property
    def long_sentences(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk row, sentence row) of every sentence long enough to stand in for its chunk (min_sentence_words)."""
        words, least = self.index.sentence_words, self.settings.min_sentence_words
        pairs = [(c, x) for c, rows in enumerate(self.index.chunk_sentence_rows) for x in rows if words[x] >= least]
        owners = np.array([c for c, _ in pairs], dtype=np.int64)
        return owners, np.array([x for _, x in pairs], dtype=np.int64)

    def second_scores(self, question: str, allowed: np.ndarray | None, candidates: set[int], depth: int) -> dict[int, float]:
        """bge-small-en: max(chunk cosine, weighted best-sentence cosine) of every allowed chunk up to
        ``second_full_max`` of them, else of the other lists' candidates; the best ``depth``."""
        vecs, st, n_chunks = self.index.second, self.settings, len(self.index.chunks)
        qvec = second.encode_query(question)
        if (n_chunks if allowed is None else len(allowed)) <= st.second_full_max:
            owners, srows = self.long_sentences
            if allowed is None:  # every sentence: one product over the stored block, no copy of it
                rows, chunk_cos, pair_scores = np.arange(n_chunks), vecs.chunks @ qvec, (vecs.sentences @ qvec)[srows]
            else:  # only the allowed chunks' sentences (pairs are in chunk order)
                rows = allowed
                lo, hi = np.searchsorted(owners, allowed, "left"), np.searchsorted(owners, allowed, "right")
                sizes = hi - lo
                pick = np.arange(int(sizes.sum())) + np.repeat(lo - (np.cumsum(sizes) - sizes), sizes)
                chunk_cos, owners, pair_scores = vecs.chunks[rows] @ qvec, owners[pick], vecs.sentences[srows[pick]] @ qvec
            scores = np.maximum(chunk_cos, st.sentence_weight * second.best_per_chunk(pair_scores, owners, n_chunks)[rows])
        else:
            rows = np.array(sorted(candidates), dtype=np.int64)
            scores = self.with_sentences(rows, vecs.chunks[rows] @ qvec, vecs.sentences, qvec)
        top = np.argsort(-scores, kind="stable")[:depth]
        return {int(rows[i]): float(scores[i]) for i in top}

    def with_sentences(self, rows, chunk_cos: np.ndarray, sentence_vectors: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """max(chunk cosine, weighted best cosine of its sentences of min_sentence_words or more; -1 without one)
        for each of ``rows``, given their chunk cosines: how both dense lists score a chunk."""
        words, st = self.index.sentence_words, self.settings
        out = np.array(chunk_cos, dtype=np.float64)  # exactly the float32 cosines, compared as Python floats
        for i, r in enumerate(rows):
            srows = [x for x in self.index.chunk_sentence_rows[r] if words[x] >= st.min_sentence_words]
            best = float((sentence_vectors[srows] @ qvec).max()) if srows else -1.0
            out[i] = max(float(out[i]), st.sentence_weight * best)
        return out

    def dense_scores(self, qvec: np.ndarray, rows) -> dict[int, float]:
        """max(chunk cosine, weighted best-sentence cosine) for each chunk row."""
        rows = [int(r) for r in rows]
        if not rows:
            return {}
        scores = self.with_sentences(rows, self.first_stage.chunk_vectors(rows) @ qvec, self.index.sentences, qvec)
        return dict(zip(rows, (float(x) for x in scores)))

    def search(
        self, question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None,
        qvec: np.ndarray | None = None, depth: int | None = None,
    ) -> list[Hit]:
        """The top ``k`` chunks, each with its sentences scored against the question (for the answer stage).

        With ``engine = Engine()`` over the seed documents (tests/test_doctests.py runs this on the seed index):

        >>> hits = engine.retriever.search("Who leads Surrey Heartlands?", k=3)
        >>> len(hits), all(h.chunk.text == engine.document(h.chunk.source).text[h.chunk.start : h.chunk.end] for h in hits)
        (3, True)
        """
        check_mode(mode)
        depth = max(depth or self.settings.candidates, k)  # a k past the candidate depth deepens every list
        if qvec is None and mode != "bm25":
            qvec = self.embed_query(question, mode)  # BM25 alone never embeds the question
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        allowed = self.allowed_rows(sources)  # checks the names too
        names = sorted(set(sources)) if sources else None
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if mode in ("dense", "hybrid"):
            dense = self.dense_scores(qvec, self.first_stage.dense_candidates(qvec, names, depth))
        if mode in ("bm25", "hybrid"):
            lexical = self.first_stage.bm25_scores(question, names, depth)
        latent: dict[int, float] = {}
        if self.uses_late(mode):
            latent = self.late_scores(question, allowed, set(dense) | set(lexical), depth)
        other: dict[int, float] = {}
        if self.uses_second(mode):
            other = self.second_scores(question, allowed, set(dense) | set(lexical) | set(latent), depth)
        dense_rank = ranked(dense)
        bm25_rank = ranked(lexical)
        late_rank = ranked(latent)
        second_rank = ranked(other)
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = lexical
        else:
            st = self.settings
            lists, weights = [dense_rank, bm25_rank], [st.dense_weight, st.bm25_weight]
            if late_rank:
                lists.append(late_rank)
                weights.append(st.late_weight)
            if second_rank:
                lists.append(second_rank)
                weights.append(st.second_weight)
            fused = rrf(lists, k=st.rrf_k, weights=weights)
        pos_d = {r: i + 1 for i, r in enumerate(dense_rank)}
        pos_b = {r: i + 1 for i, r in enumerate(bm25_rank)}
        pos_l = {r: i + 1 for i, r in enumerate(late_rank)}
        pos_s = {r: i + 1 for i, r in enumerate(second_rank)}
        terms = _TermOverlap(self, question) if qvec is None else None
        return [
            Hit(
                chunk=self.index.chunks[r],
                score=fused[r],
                dense=dense.get(r),
                bm25=lexical.get(r),
                rank_dense=pos_d.get(r),
                rank_bm25=pos_b.get(r),
                rank_fused=place,
                row=r,
                sentence_scores=tuple(float(x) for x in (self.sentence_scores(qvec, r) if qvec is not None else terms.score(r))),
                late=latent.get(r),
                rank_late=pos_l.get(r),
                second=other.get(r),
                rank_second=pos_s.get(r),
                back_matter=self.is_back_matter(r),
            )
            for place, r in enumerate(self.distinct(ranked(fused), k), 1)
        ]

    def is_back_matter(self, row: int) -> bool:
        """Is at least half of the chunk back matter (shown in the source panel, ranked below body text)?"""
        c = self.index.chunks[row]
        spans = self.index.docs[c.source].back_matter
        inside = sum(max(0, min(b, c.end) - max(a, c.start)) for a, b in spans)
        return inside * 2 >= c.end - c.start > 0

    def distinct(self, order: list[int], k: int) -> list[int]:
        """The first ``k`` rows, passing over a chunk that repeats most of a better-ranked one.

        Overlapping chunks share up to ChunkSettings.overlap_tokens; a chunk whose text
        is more than ``settings.max_shared`` of it already shown adds nothing for the reader.
        """
        chosen: list[int] = []
        for r in order:
            c = self.index.chunks[r]
            if any(
                o.source == c.source and min(o.end, c.end) - max(o.start, c.start) > self.settings.max_shared * (c.end - c.start)
                for o in (self.index.chunks[x] for x in chosen)
            ):
                continue
            chosen.append(r)
            if len(chosen) == k:
                break
        return chosen


class _TermOverlap:
    """Sentence scores without the model, for BM25 alone: the share of the question's terms in each sentence."""

    def __init__(self, retriever: Retriever, question: str) -> None:
        self.retriever = retriever
        self.terms = set(lexical.query_terms(question, retriever.index_settings))

    def score(self, row: int) -> np.ndarray:
        c = self.retriever.index.chunks[row]
        if not self.terms:
            return np.zeros(len(c.sentences), dtype=np.float32)
        texts = [c.text[a - c.start : b - c.start] for a, b in c.sentences]
        tokens = lexical.tokenize(texts, self.retriever.index_settings) if texts else None
        inv = {v: k for k, v in tokens.vocab.items()} if tokens else {}
        return np.array([len({inv[i] for i in ids} & self.terms) / len(self.terms) for ids in (tokens.ids if tokens else [])],
                        dtype=np.float32)


def body_first(hits: list[Hit]) -> list[Hit]:
    """Hits with back matter after every body hit, each group in its order: a reference list never outranks text."""
    return [h for h in hits if not h.back_matter] + [h for h in hits if h.back_matter]
