"""Fit the lead model (qa/search/lead.py) and its calibrated chance on the dev split: ``qa eval --fit-lead``.

For every question the engine's two stages run as they do for an answer (``Engine.ranked``); each quotable
sentence of the first passages is a candidate, labelled right when it overlaps the question's evidence. The
weights maximise the likelihood of the right sentences under a softmax over each question's candidates (the
listwise loss of a conditional logit), with a small L2 penalty, features standardised while fitting and the
weights then put back on the features' own scale. Questions with no right candidate teach nothing and are left
out of that fit.

The chance that a lead answers is a logistic fit of (log of the lead's softmax probability, the first
passage's cross-encoder logit) to whether it was right, on out-of-fold probabilities (5 folds of the dev
questions, so the fit does not see its own answers) and over the out-of-scope questions too, which no lead
answers. "high" starts where dev leads were right at least ``HIGH_PRECISION`` of the time, read as the lower
end of a confidence interval so that a handful of lucky leads do not make a level.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..search import lead
from ..search.answer import lead_chance
from .evalset import Question, span_overlap

L2 = 0.1
"""The penalty on the standardised weights; 0.01 / 0.1 / 1 gave the same 5-fold dev lead within a question."""
FOLDS = 5
HIGH_PRECISION = 0.85
"""Precision asked of "high" leads, as the lower end of a one-sided 95% Wilson interval on dev, not the point
estimate: 3 right of 3 has a point estimate of 1.0 and tells little (its lower bound is .47), so "high" needs a
run of leads large enough to show it; when no threshold gives that, nothing is called "high"."""
Z = 1.645
MEDIUM_PRECISION = 0.50
"""Below the chance where dev leads were right half the time, the level is "low"."""


@dataclass
class Sample:
    """One question's candidates: features, which are right, and the first passage's logit."""

    qid: str
    X: np.ndarray
    y: np.ndarray
    first_logit: float
    out_of_scope: bool


def collect(engine, questions: list[Question], k: int = 5, progress: bool = True) -> list[Sample]:
    """Run both stages for each question and describe every candidate lead."""
    from tqdm import tqdm

    passages = engine.settings.answer.lead_passages
    out = []
    for q in tqdm(questions, desc="lead features", file=sys.stderr, disable=not progress or None):
        text, hits, retriever, _ = engine.ranked(q.question, k=k)
        ok = lead.quotable_flags(hits, retriever.index.docs, passages)
        cands = lead.candidates(hits, ok, passages)
        X = lead.features(text, hits, cands)
        y = np.array([any(hits[c.passage].chunk.source == t.source and span_overlap(c.span, (t.start, t.end)) > 0
                          for t in q.targets) for c in cands], dtype=bool)
        first = hits[0].rerank if hits and hits[0].rerank is not None else 0.0
        out.append(Sample(q.id, X, y, float(first), q.out_of_scope))
    return out


def fit_weights(samples: list[Sample], l2: float = L2) -> np.ndarray:
    """Weights on the features' own scale that maximise the softmax likelihood of the right candidates."""
    from scipy.optimize import minimize

    sets = [(s.X, s.y) for s in samples if len(s.y) and s.y.any()]
    if not sets:
        raise ValueError("No question has a right candidate: nothing to fit.")
    allx = np.vstack([x for x, _ in sets])
    mu, sd = allx.mean(0), allx.std(0)
    sd[sd < 1e-9] = 1.0
    z = [((x - mu) / sd, y) for x, y in sets]

    def loss(w):
        total, grad = l2 * w @ w / 2, l2 * w
        for x, y in z:
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            right = p[y].sum()
            total -= np.log(right + 1e-12)
            grad -= (p * y / right) @ x - p @ x
        return total / len(z), grad / len(z)

    w = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B").x
    return w / sd  # the shift mu adds the same to every candidate of a question: the softmax ignores it


def lead_probability(sample: Sample, w: np.ndarray) -> tuple[bool, float]:
    """(is the model's lead right, its softmax probability)."""
    s = sample.X @ w
    p = np.exp(s - s.max())
    p /= p.sum()
    i = int(np.argmax(p))
    return bool(sample.y[i]), float(p[i])


def out_of_fold(samples: list[Sample], folds: int = FOLDS, seed: int = 0) -> list[tuple[bool, float]]:
    """Each question's (right, probability) from weights fitted without its fold."""
    order = np.random.default_rng(seed).permutation(len(samples))
    parts = np.array_split(order, folds)
    out: list[tuple[bool, float] | None] = [None] * len(samples)
    for f, part in enumerate(parts):
        train = [samples[i] for g, other in enumerate(parts) if g != f for i in other]
        w = fit_weights(train)
        for i in part:
            out[i] = lead_probability(samples[i], w) if len(samples[i].y) else (False, 0.0)
    return out


def fit_chance(samples: list[Sample], folded: list[tuple[bool, float]]) -> tuple[float, float, float]:
    """(a, b, c) of chance = sigmoid(a ln p + b logit + c), fitted by logistic regression."""
    from scipy.optimize import minimize

    x = np.array([[np.log(max(p, 1e-9)), s.first_logit, 1.0] for s, (_, p) in zip(samples, folded) if len(s.y)])
    y = np.array([right for s, (right, _) in zip(samples, folded) if len(s.y)], dtype=float)

    def loss(w):
        z = x @ w
        p = 1 / (1 + np.exp(-z))
        return float(-np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)) + 1e-3 * w @ w), \
            (x.T @ (p - y)) / len(y) + 2e-3 * w

    return tuple(float(v) for v in minimize(loss, np.zeros(3), jac=True, method="L-BFGS-B").x)


def wilson_lower(hits: int, n: int, z: float = Z) -> float:
    """The lower end of the Wilson score interval for ``hits`` of ``n``."""
    if n == 0:
        return 0.0
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre - spread) / (1 + z * z / n))


def threshold_for(chances: np.ndarray, right: np.ndarray, precision: float, bound: bool = False) -> float:
    """The lowest chance from which leads were right at least ``precision`` of the time (the Wilson lower
    bound of it with ``bound``); 1.0 when no chance is."""
    order = np.argsort(-chances, kind="stable")
    best = 1.0
    hits = 0
    for n, i in enumerate(order, start=1):
        hits += right[i]
        if (wilson_lower(hits, n) if bound else hits / n) >= precision:
            best = float(chances[i])
    return best


def fit(samples: list[Sample]) -> dict:
    """Everything ``AnswerSettings`` needs for the fused lead, with the dev figures that chose it."""
    w = fit_weights(samples)
    folded = out_of_fold(samples)
    chance_w = fit_chance(samples, folded)
    from ..config import AnswerSettings

    st = AnswerSettings(chance_weights=chance_w)
    usable = [(s, f) for s, f in zip(samples, folded) if len(s.y)]
    chances = np.array([lead_chance(p, s.first_logit, st) for s, (_, p) in usable])
    right = np.array([r for _, (r, _) in usable], dtype=bool)
    inscope = [f for s, f in zip(samples, folded) if not s.out_of_scope]
    return {
        "lead_weights": tuple((name, round(float(v), 4)) for name, v in zip(lead.FEATURES, w)),
        "chance_weights": tuple(round(v, 4) for v in chance_w),
        "high_chance": round(threshold_for(chances, right, HIGH_PRECISION, bound=True), 4),
        "medium_chance": round(threshold_for(chances, right, MEDIUM_PRECISION), 4),
        "dev_lead_out_of_fold": round(float(np.mean([r for r, _ in inscope])), 4) if inscope else float("nan"),
        "dev_lead_in_sample": round(float(np.mean([lead_probability(s, w)[0] if len(s.y) else False
                                                   for s in samples if not s.out_of_scope])), 4),
        "questions": len(samples),
    }
