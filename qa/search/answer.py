"""Turn ranked hits into an extractive answer: passages, the sentence that answers first, abstention.

The earlier stages hand each hit's sentence scores over in the ``Hit`` records
(cosine from the retriever, or the reranker's); this stage only chooses among
them, so it never touches the index or a model. A sentence may lead an answer
only if it reads as one: not back matter (references, bylines, imprint), not a
citation fragment or a lead-in that ends with a colon, and not a sentence an
earlier passage already quoted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from ..config import AnswerSettings
from ..records import Answer, Document, Hit, Passage, Span

NO_ANSWER = (
    "The documents do not seem to answer this question. The nearest passages are listed below; "
    "check them, or rephrase the question."
)
NOTHING = "Nothing in the selected documents matches this question."

CITATION = re.compile(
    r"""^\W*(?:
        \[?\d{1,3}[\].]\s+[A-Z]              # [12] Author / 12. Author
      | [A-Z][\w'’-]+,?\s+(?:[A-Z]{1,3}\b|[A-Z]\.)  # Timmins N / Ham, C.
      | .*\(\d{4}[a-z]?\)[.,]                # ... (2016). Title
      | .*\b(?i:doi|isbn)\b                 # identifiers
      | .*(?i:https?://|www\.)               # links
      | \(?\[?[^\]]{0,60}\]\(                # a Markdown link as the whole sentence
    )""",
    re.X,
)
"""A sentence that looks like a reference-list entry or a citation, not prose that answers."""

REFERENCE = re.compile(r"\[online\]|available (?:at|from)\s*:|https?://|www\.|\bdoi:|\bISBN\b", re.I)
"""Marks of a bibliography entry anywhere in a sentence."""

MIN_QUOTE_WORDS = 4
"""Fewer words than this (not counting a citation in brackets or a link's address) is a fragment such as
"([Timmins 2015](#))", not a sentence that answers."""

MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\(([^()\s]{0,500})\)")
"""A Markdown link: its words in group 1, its address in group 2 (the page hides the syntax too)."""


def prose_words(text: str) -> list[str]:
    """The words of a sentence, without link addresses and bracketed citations such as (Ham 2018)."""
    bare = MD_LINK.sub(r"\1", text)
    bare = re.sub(r"\([^()]*\d{4}[a-z]?[^()]*\)", " ", bare)
    return re.findall(r"[^\W\d_]{2,}", bare)


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def repeats(key: str, seen: set[str]) -> bool:
    """Is the normalised sentence ``key`` already quoted, or contained in (or containing) a quoted one?"""
    return not key or any(key in s or s in key for s in seen)


def sentence_words(hit: Hit) -> np.ndarray:
    """Words in each sentence of the hit's chunk, in order."""
    c = hit.chunk
    return np.array([len(c.text[a - c.start : b - c.start].split()) for a, b in c.sentences], dtype=np.int32)


def quotable(doc: Document, span: Span, text: str) -> bool:
    """Can this sentence be quoted as the answer: prose, not back matter, a citation, a fragment or a lead-in?"""
    a, b = span
    if any(x < b and a < y for x, y in doc.back_matter):
        return False
    t = " ".join(text.split())
    return (not CITATION.match(t) and not REFERENCE.search(t) and not t.endswith(":")
            and len(prose_words(t)) >= MIN_QUOTE_WORDS)


def choose_highlights(
    scores: np.ndarray, words: np.ndarray, settings: AnswerSettings = AnswerSettings(), ok: np.ndarray | None = None,
) -> list[int]:
    """Indices (in text order) of the sentences to highlight in one passage.

    The best-scoring sentence, plus the next best when within ``highlight_margin`` of it,
    at most ``max_highlights``. Sentences under ``min_highlight_words`` words, or not
    ``ok`` (not quotable), rank below every other (they lose ``short_penalty``), so they
    are chosen only when nothing else is there.
    """
    if not len(scores):
        return []
    rank = np.asarray(scores, dtype=np.float64)
    weak = np.asarray(words) < settings.min_highlight_words
    if ok is not None:
        weak |= ~np.asarray(ok, dtype=bool)
    if weak.any() and not weak.all():
        rank = np.where(weak, rank - settings.short_penalty * max(1.0, float(np.ptp(rank))), rank)
    order = np.argsort(-rank, kind="stable")
    top = float(rank[order[0]])
    margin = settings.highlight_margin * max(1.0, float(np.ptp(np.asarray(scores, dtype=np.float64)))) if len(scores) > 1 else 0
    chosen = [int(i) for i in order[: settings.max_highlights] if float(rank[i]) >= top - margin]
    return sorted(chosen)


def make_passage(doc: Document, hit: Hit, settings: AnswerSettings = AnswerSettings(), seen: set[str] | None = None) -> Passage:
    c = hit.chunk
    scores = np.asarray(hit.sentence_scores, dtype=np.float32)
    texts = [c.text[a - c.start : b - c.start] for a, b in c.sentences]
    ok = np.array([quotable(doc, span, t) and not repeats(_norm(t), seen or set()) for span, t in zip(c.sentences, texts)],
                  dtype=bool)
    chosen = choose_highlights(scores, sentence_words(hit), settings, ok) if len(scores) == len(c.sentences) else []
    chosen = [i for i in chosen if ok[i]] or chosen[:1]
    if seen is not None:
        seen.update(_norm(texts[i]) for i in chosen if ok[i])
    return Passage(
        source=doc.source,
        title=doc.title,
        section=c.section,
        start=c.start,
        end=c.end,
        text=c.text,
        score=hit.score if hit.rerank is None else hit.rerank,
        highlights=tuple(c.sentences[i] for i in chosen),
        highlight_scores=tuple(float(scores[i]) for i in chosen),
        quotable=tuple(bool(ok[i]) for i in chosen),
    )


def confidence_level(confidence: float, abstained: bool, settings: AnswerSettings = AnswerSettings(), reranked: bool = False) -> str:
    """"high", "medium" or "low": how sure the answer is, in words a reader uses."""
    if abstained:
        return "low"
    high = settings.high_logit if reranked else settings.high_confidence
    return "high" if confidence >= high else "medium"


def make_answer(
    question: str, hits: list[Hit], docs: Mapping[str, Document], mode: str,
    settings: AnswerSettings = AnswerSettings(), build: str = "", lead_passages: int = 1,
) -> Answer:
    """The answer: passages in order, each with its highlights; the lead sentence is the best quotable
    highlight of the first ``lead_passages`` passages (whose sentence scores are on one scale)."""
    seen: set[str] = set()
    passages = tuple(make_passage(docs[h.chunk.source], h, settings, seen) for h in hits)
    reranked = bool(hits) and hits[0].rerank is not None
    if reranked:
        confidence = float(hits[0].rerank)
        threshold = settings.abstain_logit
    else:
        confidence = max((max(p.highlight_scores) for p in passages if p.highlight_scores), default=0.0)
        threshold = settings.abstain_threshold
    abstained = not passages or confidence < threshold
    message = NOTHING if not passages else NO_ANSWER if abstained else ""
    lead = _lead(passages, lead_passages)
    return Answer(question=question, passages=passages, abstained=abstained, message=message,
                  confidence=confidence, mode=mode, level=confidence_level(confidence, abstained, settings, reranked),
                  build=build, lead=lead)


def _lead(passages: tuple[Passage, ...], n: int) -> tuple[int, Span] | None:
    best = None
    for i, p in enumerate(passages[: max(1, n)]):
        for span, score, ok in zip(p.highlights, p.highlight_scores, p.quotable or (True,) * len(p.highlights)):
            if ok and (best is None or score > best[0]):
                best = (score, i, span)
    return (best[1], best[2]) if best else None


def ranked_highlights(answer: Answer) -> list[tuple[int, tuple[int, int], float]]:
    """Highlighted sentences as (passage index, span, score), in the order an answer presents them.

    The lead sentence first (the best quotable sentence of the passages whose
    sentences were scored together; evals/README.md measures how often it is
    the evidence), then every other quotable highlight in passage order.
    """
    items = [
        (i, span, float(s))
        for i, p in enumerate(answer.passages)
        for span, s, ok in zip(p.highlights, p.highlight_scores or (0.0,) * len(p.highlights), p.quotable or (True,) * len(p.highlights))
        if ok
    ]
    lead = answer.lead
    first = next((t for t in items if lead and (t[0], t[1]) == (lead[0], tuple(lead[1]))), None)
    return ([first] if first else []) + [t for t in items if t is not first]


def best_sentences(answer: Answer, n: int = 2) -> list[tuple[int, str]]:
    """The answer's top sentences as (passage number from 1, sentence text); see ranked_highlights."""
    out = []
    for i, (a, b), _ in ranked_highlights(answer)[:n]:
        p = answer.passages[i]
        out.append((i + 1, p.text[a - p.start : b - p.start]))
    return out
