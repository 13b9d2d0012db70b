"""Retrieval over a loaded index: dense (FAISS + sentence-level rescoring), BM25, and their fusion."""

from __future__ import annotations

import numpy as np

from .build import bm25_tokenize
from .config import MODES
from .embed import Embedder
from .errors import UnknownDocumentError
from .fusion import ranked, rrf
from .records import Hit
from .store import LoadedIndex

CANDIDATES = 100
"""Depth of each list before fusion. Recall@10 of the fused list stops rising well before this on the eval set."""

EXACT_FILTER_MAX = 20_000
"""With an approximate dense index, a search limited to documents holding at most this many chunks is exact.

Scoring 20k reconstructed vectors costs a few ms; larger filters use the index with a selector.
"""

SENTENCE_WEIGHT = 1.0
"""Dense score of a chunk = max(chunk cosine, SENTENCE_WEIGHT * best sentence cosine).

With 0 (chunk cosine only) dev MRR@10 fell from 0.56 to 0.43; summing the two
instead of taking the max did not help either (evals/README.md).
"""

MIN_SENTENCE_WORDS = 4
"""Sentences with fewer words than this do not stand in for their chunk in dense scoring.

Without the title/section prefix a fragment that is little more than a name
("Timmins N (2016).") matches any question naming that person. On the dev
split leaving out sentences under 4 words lifted MRR@10 from 0.560 to 0.572;
3 and 5 did no better, 6 was worse (0.540) (evals/README.md).
"""

DENSE_WEIGHT = 1.5
"""Weight of the dense ranking in the fusion (BM25 has BM25_WEIGHT).

Tuned on the dev split: 1.5 gave the best Recall@5 and MRR@10 of 1.0, 1.5 and
2.0 with RRF_K = 10 (evals/README.md). The dense side carries the paraphrases
that share few words with the text.
"""

BM25_WEIGHT = 1.0
"""Weight of the BM25 ranking in the fusion."""

RRF_K = 10
"""The fusion constant used here, lower than the general-purpose fusion.RRF_K (60).

Both lists are short and precise at the top on this kind of corpus, so the first
ranks should count more: on the dev split k = 10 beat 60 (MRR@10 0.53 -> 0.55
with plain chunks); 5 and 20 were no better (evals/README.md).
"""


MAX_SHARED = 0.5
"""A chunk more than half of whose text is in a better-ranked passage is passed over.

Measured on dev: R@3 0.627 -> 0.640, MRR@10 0.572 -> 0.573, test unchanged;
0.2 gave R@10 0.760 on dev but hides chunks that are three-quarters new text.
"""


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"Unknown retrieval mode {mode!r}; choose one of: {', '.join(MODES)}")
    return mode


class Retriever:
    def __init__(self, index: LoadedIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    def allowed_rows(self, sources: list[str] | None) -> np.ndarray | None:
        if not sources:
            return None
        unknown = [s for s in sources if s not in self.index.by_source]
        if unknown:
            raise UnknownDocumentError(
                f"Not in the index: {', '.join(unknown)}. Indexed documents: {', '.join(sorted(self.index.by_source))}"
            )
        return np.sort(np.concatenate([self.index.by_source[s] for s in sources]))

    def embed_query(self, question: str) -> np.ndarray:
        return self.embedder.encode([question])[0]

    def dense_candidates(self, qvec: np.ndarray, allowed: np.ndarray | None, depth: int) -> np.ndarray:
        import faiss

        n = self.index.dense.ntotal
        depth = min(depth, n if allowed is None else len(allowed))
        if depth <= 0:
            return np.zeros(0, dtype=np.int64)
        index = self.index.dense
        params = None
        if allowed is not None:
            if not isinstance(index, faiss.IndexFlat) and len(allowed) <= EXACT_FILTER_MAX:
                # A few documents of a large collection: exact search over their rows, so the
                # approximate index's probed cells cannot miss them.
                scores = index.reconstruct_batch(allowed) @ qvec
                top = np.argpartition(-scores, depth - 1)[:depth] if depth < len(allowed) else np.arange(len(allowed))
                return allowed[top[np.argsort(-scores[top], kind="stable")]]
            sel = faiss.IDSelectorBatch(allowed)
            if isinstance(index, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=index.nprobe)
            elif isinstance(index, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=index.hnsw.efSearch)
            else:
                params = faiss.SearchParameters(sel=sel)
        _, ids = index.search(qvec[None, :].astype(np.float32), depth, params=params)
        return ids[0][ids[0] >= 0]

    def bm25_scores(self, question: str, allowed: np.ndarray | None, depth: int) -> dict[int, float]:
        tokens = bm25_tokenize([question])
        vocab_inv = {v: k for k, v in tokens.vocab.items()}
        words = [vocab_inv[i] for i in tokens.ids[0]]
        if not words:
            return {}
        scores = self.index.bm25.get_scores(words)
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        nz = np.flatnonzero(scores > 0)
        if len(nz) > depth:
            nz = nz[np.argpartition(-scores[nz], depth - 1)[:depth]]
        return {int(i): float(scores[i]) for i in nz}

    def dense_scores(self, qvec: np.ndarray, rows) -> dict[int, float]:
        """max(chunk cosine, weighted best-sentence cosine) for each chunk row."""
        rows = list(rows)
        if not rows:
            return {}
        chunk_vecs = np.vstack([self.index.dense.reconstruct(int(r)) for r in rows])
        chunk_cos = chunk_vecs @ qvec
        out = {}
        words = self.index.sentence_words
        for r, cc in zip(rows, chunk_cos):
            srows = [x for x in self.index.chunk_sentence_rows[r] if words[x] >= MIN_SENTENCE_WORDS]
            best = float((self.index.sentences[srows] @ qvec).max()) if srows else -1.0
            out[int(r)] = max(float(cc), SENTENCE_WEIGHT * best)
        return out

    def search(
        self, question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None,
        qvec: np.ndarray | None = None, depth: int = CANDIDATES,
    ) -> list[Hit]:
        check_mode(mode)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        allowed = self.allowed_rows(sources)
        dense: dict[int, float] = {}
        lexical: dict[int, float] = {}
        if mode in ("dense", "hybrid"):
            if qvec is None:
                qvec = self.embed_query(question)
            dense = self.dense_scores(qvec, self.dense_candidates(qvec, allowed, depth))
        if mode in ("bm25", "hybrid"):
            lexical = self.bm25_scores(question, allowed, depth)
        dense_rank = ranked(dense)
        bm25_rank = ranked(lexical)
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = lexical
        else:
            fused = rrf([dense_rank, bm25_rank], k=RRF_K, weights=[DENSE_WEIGHT, BM25_WEIGHT])
        pos_d = {r: i + 1 for i, r in enumerate(dense_rank)}
        pos_b = {r: i + 1 for i, r in enumerate(bm25_rank)}
        return [
            Hit(
                chunk=self.index.chunks[r],
                score=fused[r],
                dense=dense.get(r),
                bm25=lexical.get(r),
                rank_dense=pos_d.get(r),
                rank_bm25=pos_b.get(r),
                row=r,
            )
            for r in self.distinct(ranked(fused), k)
        ]

    def distinct(self, order: list[int], k: int) -> list[int]:
        """The first ``k`` rows, passing over a chunk that repeats most of a better-ranked one.

        Overlapping chunks share up to ChunkSettings.overlap_tokens; a chunk whose text
        is more than MAX_SHARED of it already shown adds nothing for the reader.
        """
        chosen: list[int] = []
        for r in order:
            c = self.index.chunks[r]
            if any(
                o.source == c.source and min(o.end, c.end) - max(o.start, c.start) > MAX_SHARED * (c.end - c.start)
                for o in (self.index.chunks[x] for x in chosen)
            ):
                continue
            chosen.append(r)
            if len(chosen) == k:
                break
        return chosen
