"""Turn ranked hits into an extractive answer: passages, the sentence that answers first, abstention.

The earlier stages hand each hit's sentence scores over in the ``Hit`` records
(cosine from the retriever, or the reranker's); this stage only chooses among
them, so it never touches the index or a model. A sentence may lead an answer
only if it reads as one: not back matter (references, bylines, imprint), not a
citation fragment or a lead-in that ends with a colon, and not a sentence an
earlier passage already quoted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import numpy as np

from ..config import AnswerSettings
from ..records import Answer, Document, Hit, Passage, Scores, Span
from . import lead
from .quotable import quotable, quotable_flags
from .short import short_answer

NO_ANSWER = (
    "The documents do not seem to answer this question. The nearest passages are listed below; "
    "check them, or rephrase the question."
)
NOTHING = "Nothing in the selected documents matches this question."


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def repeats(key: str, seen: set[str]) -> bool:
    """Is the normalised sentence ``key`` already quoted, or contained in (or containing) a quoted one?"""
    return not key or any(key in s or s in key for s in seen)


def sentence_words(hit: Hit) -> np.ndarray:
    """Words in each sentence of the hit's chunk, in order."""
    c = hit.chunk
    return np.array([len(c.text[a - c.start : b - c.start].split()) for a, b in c.sentences], dtype=np.int32)


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


def make_passage(doc: Document, hit: Hit, settings: AnswerSettings = AnswerSettings(), seen: set[str] | None = None,
                 lead: Span | None = None, rank: int | None = None, next_best: Span | None = None) -> Passage:
    """The hit as a passage with its best sentences highlighted; ``lead``, the answer's lead sentence when it is
    in this passage, is always one of them, and so is ``next_best`` (the lead model's runner-up) when it is here
    and may be quoted; ``rank``, its place in the reranker's order (from 1)."""
    c = hit.chunk
    scores = np.asarray(hit.sentence_scores, dtype=np.float32)
    texts = [c.text[a - c.start : b - c.start] for a, b in c.sentences]
    ok = np.array([quotable(doc, span, t) and not repeats(_norm(t), seen or set()) for span, t in zip(c.sentences, texts)],
                  dtype=bool)
    chosen = choose_highlights(scores, sentence_words(hit), settings, ok) if len(scores) == len(c.sentences) else []
    chosen = [i for i in chosen if ok[i]] or chosen[:1]
    keep = []
    if lead is not None and lead in c.sentences:
        keep.append(c.sentences.index(lead))
        ok[keep[0]] = True
    if next_best is not None and next_best in c.sentences and ok[c.sentences.index(next_best)]:
        keep.append(c.sentences.index(next_best))
    if keep:
        rest = [i for i in chosen if i not in keep][: max(0, settings.max_highlights - len(keep))]
        chosen = sorted({*keep, *rest})
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
        highlight_scores=tuple(float(scores[i]) if i < len(scores) else 0.0 for i in chosen),
        quotable=tuple(bool(ok[i]) for i in chosen),
        pages=doc.page_range(c.start, c.end),
        scores=Scores.of(hit, rank),
    )


SCORE_KINDS = ("logit", "late", "cross", "cosine", "terms")
"""What an answer's confidence is, so it is compared with a threshold calibrated for it: the cross-encoder's
logit for the first passage (reranked), else the best sentence score of the sentence scorer in use: ColBERT
("late"), the cross-encoder on one sentence ("cross"), MiniLM cosine, or BM25 term overlap ("terms")."""


def thresholds(settings: AnswerSettings, kind: str) -> tuple[float, float | None]:
    """(refuse below, "high" from) for a confidence of ``kind``; None: no "high" is calibrated for it."""
    return {
        "logit": (settings.abstain_logit, settings.high_logit),
        "late": (settings.abstain_late, None),
        "cross": (settings.abstain_cross, None),
        "cosine": (settings.abstain_threshold, settings.high_confidence),
        "terms": (settings.abstain_terms, None),
    }[kind]


def confidence_level(confidence: float, abstained: bool, settings: AnswerSettings = AnswerSettings(), kind: str = "cosine",
                     chance: float | None = None) -> str:
    """"high", "medium" or "low": how sure the answer is, in words a reader uses.

    With a calibrated ``chance`` that the lead answers (the fused lead), "high" from ``settings.high_chance`` and
    "low" below ``settings.medium_chance``; else by the thresholds of the confidence's ``kind``.

    >>> confidence_level(0.0, False, AnswerSettings(high_chance=0.9), "logit", chance=0.95)
    'high'
    >>> confidence_level(0.0, False, AnswerSettings(), "logit", chance=0.5)
    'medium'
    >>> confidence_level(0.0, True, AnswerSettings(), "logit", chance=0.95)
    'low'
    """
    if abstained:
        return "low"
    if chance is not None:
        return "high" if chance >= settings.high_chance else "medium" if chance >= settings.medium_chance else "low"
    high = thresholds(settings, kind)[1]
    return "high" if high is not None and confidence >= high else "medium"


def lead_chance(probability: float, settings: AnswerSettings = AnswerSettings()) -> float:
    """The calibrated chance that the lead answers: the share of dev leads that were right among those whose
    lead model gave a probability in the same bin (``AnswerSettings.chance_table``, ``qa eval --fit-lead``).

    >>> lead_chance(0.99, AnswerSettings(chance_table=((0.0, 0.2), (0.9, 0.88))))
    0.88
    >>> lead_chance(0.5, AnswerSettings(chance_table=((0.1, 0.2), (0.9, 0.88))))
    0.2
    """
    table = settings.chance_table
    chance = table[0][1]
    for lowest, share in table:
        if probability >= lowest:
            chance = share
    return float(chance)


def make_answer(
    question: str, hits: list[Hit], docs: Mapping[str, Document], mode: str,
    settings: AnswerSettings = AnswerSettings(), build: str = "", lead_passages: int = 1, kind: str | None = None,
) -> Answer:
    """The answer: passages in order, each with its highlights, led by one sentence.

    When the second stage measured the sentences of the first passages (``Hit.signals``), the lead is the best
    of their quotable sentences by the fitted lead model (qa/search/lead.py), with a calibrated chance that it
    answers and, when the question asks for a fact the lead holds, the short answer inside it. Otherwise the lead
    is the best quotable highlight of the first ``lead_passages`` passages (whose sentence scores are on one
    scale). ``kind``: what the confidence is (SCORE_KINDS; default "logit" when reranked, else "cosine").

    >>> from qa.records import Chunk
    >>> text = "Leaders met in 2019. Through interviews with 16 leaders, the report looks at systems."
    >>> doc = Document("a.txt", text, "A report", "0")
    >>> chunk = Chunk("c", "a.txt", 0, len(text), text, (), ((0, 20), (21, len(text))), text)
    >>> hit = Hit(chunk, score=1.0, sentence_scores=(0.2, 0.6))
    >>> answer = make_answer("How many leaders were interviewed?", [hit], {"a.txt": doc}, "hybrid")
    >>> a, b = answer.lead[1]
    >>> text[a:b]
    'Through interviews with 16 leaders, the report looks at systems.'
    >>> text[slice(*answer.short)]
    '16'
    """
    kind = kind or ("logit" if hits and hits[0].rerank is not None else "cosine")
    if kind not in SCORE_KINDS:
        raise ValueError(f"kind must be one of {SCORE_KINDS}, got {kind!r}")
    fused = None
    if settings.lead_weights and any(h.signals is not None for h in hits[: settings.lead_passages]):
        ok = quotable_flags(hits, docs, settings.lead_passages)
        fused = lead.choose(question, hits, ok, dict(settings.lead_weights), settings.lead_passages)
    order = list(range(len(hits)))  # the answer's order: the reranker's, or the lead's passage first
    if fused and settings.passage_order == "lead":
        order = lead.passage_order(fused[1], len(hits))
    seen: set[str] = set()
    lead_span = {fused[0].passage: fused[0].span} if fused else {}
    second = fused[1].runner_up if fused else None  # the lead model's second choice, quoted second
    runner_up = {second[0]: second[1]} if second else {}
    claim = sorted(order, key=lambda i: i not in lead_span)  # the lead's passage claims its sentence first
    made = {i: make_passage(docs[hits[i].chunk.source], hits[i], settings, seen, lead_span.get(i), rank=i + 1,
                            next_best=runner_up.get(i))
            for i in claim}
    passages = tuple(made[i] for i in order)
    if kind == "logit":  # the reranker's first passage, wherever the answer shows it
        confidence = float(hits[0].rerank) if hits and hits[0].rerank is not None else 0.0
    elif kind in ("late", "cross"):  # only the first passages were scored so: the first one's best sentence
        confidence = max(made[0].highlight_scores, default=0.0) if made else 0.0
    else:
        confidence = max((max(p.highlight_scores) for p in passages if p.highlight_scores), default=0.0)
    abstained = not passages or confidence < thresholds(settings, kind)[0]
    message = NOTHING if not passages else NO_ANSWER if abstained else ""
    chance = None
    reason = None
    if fused:
        at = {hit: shown for shown, hit in enumerate(order)}
        chance = lead_chance(fused[1].probability, settings)
        top = (at[fused[0].passage], fused[0].span)
        reason = dataclasses.replace(fused[1], considered=tuple((at[i], span, share) for i, span, share in fused[1].considered))
    else:
        top = _lead(passages, lead_passages)
    if top is None and not abstained:  # nothing quotable leads: a refusal, never a reply with neither
        abstained, message = True, NO_ANSWER
    short = None
    if top is not None and not abstained:
        a, b = top[1]
        p = passages[top[0]]
        rel = short_answer(question, p.text[a - p.start : b - p.start])
        short = (a + rel[0], a + rel[1]) if rel else None
    return Answer(question=question, passages=passages, abstained=abstained, message=message,
                  confidence=confidence, mode=mode, level=confidence_level(confidence, abstained, settings, kind, chance),
                  build=build, lead=top, short=short, chance=chance, kind=kind,
                  lead_reason=reason)


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
    the evidence), then the lead model's runner-up when it is highlighted, then
    every other quotable highlight in passage order.
    """
    items = [
        (i, span, float(s))
        for i, p in enumerate(answer.passages)
        for span, s, ok in zip(p.highlights, p.highlight_scores or (0.0,) * len(p.highlights), p.quotable or (True,) * len(p.highlights))
        if ok
    ]
    lead = answer.lead
    first = next((t for t in items if lead and (t[0], t[1]) == (lead[0], tuple(lead[1]))), None)
    why = answer.lead_reason
    second = None
    if first is not None and why is not None and why.runner_up is not None:
        i, span, _ = why.runner_up
        second = next((t for t in items if (t[0], t[1]) == (i, tuple(span))), None)
    top = [t for t in (first, second) if t is not None]
    return top + [t for t in items if t not in top]


def best_sentences(answer: Answer, n: int = 2) -> list[tuple[int, str]]:
    """The answer's top sentences as (passage number from 1, sentence text); see ranked_highlights."""
    out = []
    for i, (a, b), _ in ranked_highlights(answer)[:n]:
        p = answer.passages[i]
        out.append((i + 1, p.text[a - p.start : b - p.start]))
    return out
