"""Choose the sentence an answer leads with, from the sentences of the first few passages.

Each quotable sentence of the passages the second stage measured (``Hit.signals``) is described by a few
features, and a linear model over them, fitted on the dev split by ``qa eval --fit-lead``
(qa/measure/lead.py), ranks them; the softmax of the scores is the chance, as the model sees it, that each
sentence is the one that answers. The features, all read from the records, no model run here:

- ``second`` / ``third``: the sentence is in the second / third passage (the first is the reference);
- ``logit_gap``: the passage's cross-encoder logit less the first passage's;
- ``after_lead_in``: the sentence before it ends with a colon ("Or, as Claire Fuller puts it:");
- ``kind_match``: the question asks for a kind of short answer (a number, an amount, a person ...) and the
  sentence holds one (qa/search/short.py);
- ``position``: where the sentence sits in its passage, 0 first to 1 last;
- ``context`` / ``cross`` / ``late``: the cross-encoder on (question, previous sentence + sentence), the
  cross-encoder and ColBERT on (topic, sentence), each z-scored over the candidates of the question;
- ``named_before``: the question's names are in one of the three sentences before, not in this one (the
  sentence that names a person is often followed by the one that says what they think);
- ``answer``: the answer head (qa/models/answer_head.py) on (topic, sentence), z-scored as above: a linear read
  of the cross-encoder's hidden states fitted on COVID-QA answer sentences.

    >>> import numpy as np
    >>> softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Hit, LeadReason, Span
from .question import kind_of, mentions, names
from .short import short_answer

FEATURES = ("second", "third", "logit_gap", "after_lead_in", "kind_match", "position", "context", "cross", "late",
            "named_before", "answer")
FEATURE_WORDS = {
    "second": ("It is in the reranker's second passage", "yes/no"),
    "third": ("It is in the reranker's third passage", "yes/no"),
    "logit_gap": ("Its passage's cross-encoder relevance less the reranker's first passage's", "logit"),
    "after_lead_in": ("The sentence before it ends with a colon", "yes/no"),
    "kind_match": ("It holds the kind of short answer the question asks for", "yes/no"),
    "position": ("Where it sits in its passage", "position"),
    "context": ("Cross-encoder: the question against it with the sentence before", "z"),
    "cross": ("Cross-encoder: the question's topic against it", "z"),
    "late": ("ColBERT: the question's topic inside it", "z"),
    "named_before": ("The question's names come in the three sentences before it, not in it", "share"),
    "answer": ("Answer head: how much it reads like an answer to the topic (trained on COVID-QA)", "z"),
}
"""Each feature in words, and its scale: "yes/no" (1 or 0), "logit" (a difference of logits), "position" (0 first
to 1 last), "z" (standard deviations from the mean over the question's candidates), "share" (of the names, 0 to 1).
What a reader is told when they ask why a sentence leads (the page's "How this answer was chosen")."""
NO_LOGIT_GAP = -3.0
"""``logit_gap`` of a passage the cross-encoder did not read."""


@dataclass(frozen=True)
class Candidate:
    """One sentence that may lead the answer."""

    passage: int  # index into the hits
    sentence: int  # index into the hit's chunk.sentences
    span: Span  # absolute offsets in the document
    text: str


def _z(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (v - v.mean()) / (v.std() + 1e-6) if len(v) else v


def softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max())
    return e / e.sum()


def candidates(hits: Sequence[Hit], ok: Sequence[Sequence[bool]], passages: int = 3) -> list[Candidate]:
    """The quotable sentences (``ok[i][j]``) of the first ``passages`` hits that carry signals."""
    out = []
    for i, h in enumerate(hits[:passages]):
        if h.signals is None:
            continue
        c = h.chunk
        for j, (a, b) in enumerate(c.sentences):
            if ok[i][j]:
                out.append(Candidate(i, j, (a, b), c.text[a - c.start : b - c.start]))
    return out


def features(question: str, hits: Sequence[Hit], cands: Sequence[Candidate]) -> np.ndarray:
    """The feature matrix, one row per candidate, columns as ``FEATURES``."""
    if not cands:
        return np.zeros((0, len(FEATURES)))
    kind = kind_of(question)
    who = names(question)
    first = hits[0].rerank
    sentences = {i: [hits[i].chunk.text[a - hits[i].chunk.start : b - hits[i].chunk.start] for a, b in hits[i].chunk.sentences]
                 for i in {c.passage for c in cands}}
    rows = []
    for c in cands:
        h = hits[c.passage]
        ch = h.chunk
        texts = sentences[c.passage]
        before = texts[c.sentence - 1].strip() if c.sentence else ""
        here = mentions(who, c.text)
        near = max([here] + [mentions(who, texts[k]) for k in range(max(0, c.sentence - 3), c.sentence)])
        gap = h.rerank - first if h.rerank is not None and first is not None else NO_LOGIT_GAP
        rows.append([
            float(c.passage == 1), float(c.passage == 2), gap, float(before.endswith(":")),
            float(kind is not None and short_answer(question, c.text, kind) is not None),
            c.sentence / max(1, len(ch.sentences) - 1), 0.0, 0.0, 0.0, near - here, 0.0,
        ])
    x = np.array(rows, dtype=np.float64)
    x[:, 6] = _z([hits[c.passage].signals.context[c.sentence] for c in cands])
    x[:, 7] = _z([hits[c.passage].signals.cross[c.sentence] for c in cands])
    x[:, 8] = _z([hits[c.passage].signals.late[c.sentence] for c in cands])
    if all(hits[c.passage].signals.answer for c in cands):  # () when the head did not run: the column stays 0
        x[:, 10] = _z([hits[c.passage].signals.answer[c.sentence] for c in cands])
    return x


def _scored(question: str, hits: Sequence[Hit], ok: Sequence[Sequence[bool]], weights: Mapping[str, float],
            passages: int) -> tuple[list[Candidate], np.ndarray, np.ndarray, np.ndarray]:
    """(candidates, their features, the weights as a vector, the model's chance for each), in candidate order."""
    cands = candidates(hits, ok, passages)
    w = np.array([weights.get(f, 0.0) for f in FEATURES])
    if not cands:
        return [], np.zeros((0, len(FEATURES))), w, np.zeros(0)
    x = features(question, hits, cands)
    return cands, x, w, softmax(x @ w)


def rank(question: str, hits: Sequence[Hit], ok: Sequence[Sequence[bool]], weights: Mapping[str, float],
         passages: int = 3) -> tuple[list[Candidate], np.ndarray]:
    """The candidates and the model's chance for each that it answers (summing to 1), best first."""
    cands, _, _, p = _scored(question, hits, ok, weights, passages)
    order = np.argsort(-p, kind="stable")
    return [cands[i] for i in order], p[order]


def choose(question: str, hits: Sequence[Hit], ok: Sequence[Sequence[bool]], weights: Mapping[str, float],
           passages: int = 3) -> tuple[Candidate, LeadReason] | None:
    """The best candidate (as ``rank`` orders them) and why: the model's chance for it, how many sentences it
    weighed, each feature's value for it with its weight (their products summed are its score), and every
    candidate with its chance, best first (so an eval can tell where a right sentence stood)."""
    cands, x, w, p = _scored(question, hits, ok, weights, passages)
    if not cands:
        return None
    order = np.argsort(-p, kind="stable")
    best = int(order[0])
    reason = LeadReason(probability=float(p[best]), candidates=len(cands),
                        features=tuple((f, float(x[best, i]), float(w[i])) for i, f in enumerate(FEATURES)),
                        considered=tuple((cands[i].passage, cands[i].span, float(p[i])) for i in order))
    return cands[best], reason


def passage_order(reason: LeadReason, n: int) -> list[int]:
    """The order of ``n`` hits once the lead is chosen: the passages the lead model weighed, in the order of
    their best sentence's share (the lead's passage first, then the runner-up's, as the reply quotes them),
    then the rest as the reranker ranked them.

    >>> why = LeadReason(0.5, 4, (), ((2, (0, 5), 0.5), (0, (9, 20), 0.2), (1, (7, 9), 0.16), (0, (0, 8), 0.14)))
    >>> passage_order(why, 5)
    [2, 0, 1, 3, 4]
    """
    weighed = list(dict.fromkeys(p for p, _, _ in reason.considered))
    return weighed + [i for i in range(n) if i not in weighed]
