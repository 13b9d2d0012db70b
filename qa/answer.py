"""Turn retrieved chunks into an extractive answer: passages, highlighted sentences, abstention."""

from __future__ import annotations

import numpy as np

from .records import Answer, Hit, Passage
from .store import LoadedIndex

ABSTAIN_THRESHOLD = 0.305
"""Best sentence cosine below which the answer says the documents do not seem to answer.

Calibrated with ``python -m qa eval --calibrate`` on the dev split (default
settings): the threshold with the best balanced accuracy between the 75
in-scope and 6 out-of-scope questions among those refusing at most 5% of the
in-scope ones. It came out at 0.3049: all 75 in-scope questions answered, 3 of
the 6 out-of-scope ones refused. The out-of-scope questions above it (up to
0.52) ask about NHS matters the documents do not cover, where one sentence's
cosine cannot tell them apart (evals/README.md).
"""

MIN_HIGHLIGHT_WORDS = 6
"""A sentence shorter than this is highlighted only when the passage has nothing longer.

Short sentences such as "Claire Fuller puts this eloquently:" match a question
that names the person but only introduce the answer. On the dev split this
lifted the answer hit rate from 0.307 to 0.320 (evals/README.md).
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
        rank = scores
        short = index.sentence_words[index.chunk_sentence_rows[hit.row]] < MIN_HIGHLIGHT_WORDS
        if short.any() and not short.all():
            rank = np.where(short, scores - 2.0, scores)  # a short sentence is highlighted only if all are
        order = np.argsort(-rank, kind="stable")
        chosen = [int(i) for i in order[:2] if float(rank[i]) >= float(rank[order[0]]) - HIGHLIGHT_MARGIN]
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


def ranked_highlights(answer: Answer) -> list[tuple[int, tuple[int, int], float]]:
    """Highlighted sentences as (passage index, span, score), in the order an answer presents them.

    The best sentence of the top passage comes first, then the others by score.
    The fused ranking judges the right passage better than one sentence's
    cosine does: on the dev split the top sentence overlapped the evidence for
    0.29 of the questions this way, 0.24 when the best-scoring highlight among
    the first five passages came first (evals/README.md).
    """
    items = [
        (i, span, float(s))
        for i, p in enumerate(answer.passages)
        for span, s in zip(p.highlights, p.highlight_scores or (0.0,) * len(p.highlights))
    ]
    first = max((t for t in items if t[0] == 0), key=lambda t: t[2], default=None)
    rest = sorted((t for t in items if t is not first), key=lambda t: -t[2])
    return ([first] if first else []) + rest


def best_sentences(answer: Answer, n: int = 2) -> list[tuple[int, str]]:
    """The answer's top sentences as (passage number from 1, sentence text); see ranked_highlights."""
    out = []
    for i, (a, b), _ in ranked_highlights(answer)[:n]:
        p = answer.passages[i]
        out.append((i + 1, p.text[a - p.start : b - p.start]))
    return out
