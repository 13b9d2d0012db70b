"""The baseline of ``qa eval --squad`` (squad.py): every sentence of the corpus (the project's own sentence splitter)
ranked by BM25 with the project's own tokeniser. Its R@k counts a top-k *sentence* that overlaps an answer span.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import IndexSettings
from ..records import Document
from .evalset import Question, Target, overlaps_evidence


@dataclass(frozen=True)
class Sentence:
    source: str
    start: int
    end: int



class SentenceBM25:
    """Every sentence of the documents (the chunker's splitter), ranked by BM25 with the project's tokeniser."""

    def __init__(self, docs: Sequence[Document], settings: IndexSettings = IndexSettings()) -> None:
        import logging

        import bm25s

        from ..ingest.chunk import clean, paragraphs, split_sentences
        from ..ingest.lexical import tokenize

        self.settings = settings
        self.sentences: list[Sentence] = []
        texts: list[str] = []
        for d in docs:
            for (ps, pe), _ in paragraphs(d):
                for a, b in split_sentences(d.text, ps, pe):
                    self.sentences.append(Sentence(d.source, a, b))
                    texts.append(clean(d.text[a:b]))
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokenize(texts, settings), show_progress=False)

    def rank(self, question: str, k: int = 5) -> list[Sentence]:
        """The ``k`` best sentences with a score above zero, best first (ties: document order)."""
        from ..ingest.lexical import query_terms

        words = [w for w in query_terms(question, self.settings) if w in self.bm25.vocab_dict]
        if not words:
            return []
        scores = np.asarray(self.bm25.get_scores(words))
        nz = np.flatnonzero(scores > 0)
        order = nz[np.lexsort((nz, -scores[nz]))][:k]
        return [self.sentences[i] for i in order]


@dataclass(frozen=True)
class BaselineResult:
    qid: str
    ranked: tuple[Sentence, ...]
    hits: tuple[bool, ...]  # per ranked sentence: overlaps an answer span
    ms: float


def overlaps(s: Sentence, targets: Sequence[Target]) -> bool:
    return overlaps_evidence(s.source, (s.start, s.end), targets)


def run_baseline(index: SentenceBM25, questions: Sequence[Question], k: int = 5) -> list[BaselineResult]:
    out = []
    for q in questions:
        t0 = time.perf_counter()
        ranked = index.rank(q.question, k)
        ms = (time.perf_counter() - t0) * 1e3
        out.append(BaselineResult(q.id, tuple(ranked), tuple(overlaps(s, q.targets) for s in ranked), ms))
    return out

