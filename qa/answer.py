"""Turn retrieved chunks into an extractive answer: passages, highlighted sentences, abstention."""

from __future__ import annotations

import numpy as np

from .records import Answer, Hit, Passage
from .store import LoadedIndex

ABSTAIN_THRESHOLD = 0.40
"""Best sentence cosine below which the answer says the documents do not seem to answer.

Calibrated with ``python -m qa eval --calibrate`` on the dev split: in-scope
questions against the out-of-scope ones (see evals/README.md).
"""

HIGHLIGHT_MARGIN = 0.05
"""A second sentence in a passage is highlighted too when within this of the passage's best."""

NO_ANSWER = (
    "The documents do not seem to answer this question. The nearest passages are listed below; "
    "check them, or rephrase the question."
)


def sentence_scores(index: LoadedIndex, hit: Hit, qvec: np.ndarray) -> np.ndarray:
    rows = index.chunk_sentence_rows[hit.row]
    if not rows:
        return np.zeros(0, dtype=np.float32)
    return index.sentences[rows] @ qvec


def make_passage(index: LoadedIndex, hit: Hit, qvec: np.ndarray) -> Passage:
    doc = index.docs[hit.chunk.source]
    scores = sentence_scores(index, hit, qvec)
    spans = hit.chunk.sentences
    if len(scores):
        order = np.argsort(-scores, kind="stable")
        best = float(scores[order[0]])
        chosen = [int(i) for i in order[:2] if float(scores[i]) >= best - HIGHLIGHT_MARGIN]
        chosen.sort()
    else:
        chosen = []
    return Passage(
        source=doc.source,
        title=doc.title,
        section=hit.chunk.section,
        start=hit.chunk.start,
        end=hit.chunk.end,
        text=hit.chunk.text,
        score=hit.score,
        highlights=tuple(spans[i] for i in chosen),
        highlight_scores=tuple(float(scores[i]) for i in chosen),
    )


def make_answer(
    question: str, hits: list[Hit], index: LoadedIndex, qvec: np.ndarray, mode: str,
    threshold: float = ABSTAIN_THRESHOLD,
) -> Answer:
    passages = tuple(make_passage(index, h, qvec) for h in hits)
    confidence = max((max(p.highlight_scores) for p in passages if p.highlight_scores), default=0.0)
    abstained = not passages or confidence < threshold
    if not passages:
        message = "Nothing in the selected documents matches this question."
    elif abstained:
        message = NO_ANSWER
    else:
        message = ""
    return Answer(question=question, passages=passages, abstained=abstained, message=message,
                  confidence=confidence, mode=mode)


def best_sentences(answer: Answer, n: int = 2) -> list[tuple[int, str]]:
    """The answer's top sentences across passages as (passage number from 1, sentence text)."""
    scored = []
    for i, p in enumerate(answer.passages):
        for (a, b), s in zip(p.highlights, p.highlight_scores):
            scored.append((s, i + 1, p.text[a - p.start : b - p.start]))
    scored.sort(key=lambda t: -t[0])
    return [(i, text) for _, i, text in scored[:n]]
