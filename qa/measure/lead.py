"""Fit the lead model (qa/search/lead.py) and its calibrated chance on the dev split: ``qa eval --fit-lead``.

For every question the engine's two stages run as they do for an answer (``Engine.ranked``); each quotable
sentence of the first passages is a candidate, labelled right when it overlaps the question's evidence. The
weights maximise the likelihood of the right sentences under a softmax over each question's candidates (the
listwise loss of a conditional logit), with a small L2 penalty, features standardised while fitting and the
weights then put back on the features' own scale. Questions with no right candidate teach nothing and are left
out of that fit.

The chance that a lead answers is read from the lead model's own probability (its softmax share among the
candidates) by isotonic regression: out-of-fold probabilities (5 folds of the dev questions, so the calibration
does not see its own answers) are sorted, and neighbouring questions are pooled until the share of right leads
rises with the probability and every bin holds at least ``MIN_BIN`` questions; a bin's chance is its share of right
leads, out-of-scope questions counted as wrong. "high" is a bin right at least ``HIGH_PRECISION`` of the time,
"low" one right less than half the time. The first passage's logit is left out: ranked by it, or by a logistic fit
of it with the probability (the calibration before), the top of dev was right less often than by the probability
alone (evals/README.md).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..search import lead
from ..search.quotable import quotable_flags
from ..search.answer import confidence_level, lead_chance
from .evalset import Question, overlaps_evidence

L2 = 0.1
"""The penalty on the standardised weights; 0.01 / 0.1 / 1 gave the same 5-fold dev lead within a question."""
FOLDS = 5
HIGH_PRECISION = 0.85
"""A bin whose dev leads were right at least this often is "high"."""
MEDIUM_PRECISION = 0.50
"""A bin whose dev leads were right less often than this is "low"."""
MIN_BIN = 15
"""The fewest dev questions a bin of the chance holds (about a tenth of dev), so that a lucky few (3 right of 3)
never make a level: today's top bin holds 18 dev questions, right 16 times out of fold."""


@dataclass
class Sample:
    """One question's candidates: features, and which are right."""

    qid: str
    X: np.ndarray
    y: np.ndarray
    out_of_scope: bool


def collect(engine, questions: list[Question], k: int = 5, progress: bool = True) -> list[Sample]:
    """Run both stages for each question and describe every candidate lead."""
    from tqdm import tqdm

    passages = engine.settings.answer.lead_passages
    out = []
    for q in tqdm(questions, desc="lead features", file=sys.stderr, disable=not progress or None):
        text, hits, retriever, _ = engine.ranked(q.question, k=k)
        ok = quotable_flags(hits, retriever.index.docs, passages)
        cands = lead.candidates(hits, ok, passages)
        X = lead.features(text, hits, cands)
        y = np.array([overlaps_evidence(hits[c.passage].chunk.source, c.span, q.targets) for c in cands], dtype=bool)
        out.append(Sample(q.id, X, y, q.out_of_scope))
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


def calibrate(probabilities, right, min_bin: int = MIN_BIN) -> tuple[tuple[float, float], ...]:
    """Isotonic bins of (lowest probability, chance), ascending: pool-adjacent-violators over the questions
    sorted by probability, then the smallest bin merged into its closer neighbour until each holds ``min_bin``.

    >>> calibrate([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [False, True, False, True, True, True], min_bin=2)
    ((0.1, 0.3333), (0.4, 1.0))
    """
    p = np.asarray(probabilities, dtype=float)
    if not len(p):
        raise ValueError("No question to calibrate on.")
    order = np.argsort(p, kind="stable")
    bins: list[list[float]] = []  # [right, count, lowest probability]
    for i in order:
        bins.append([float(right[i]), 1.0, float(p[i])])
        while len(bins) > 1 and bins[-2][0] / bins[-2][1] >= bins[-1][0] / bins[-1][1]:
            r, n, _ = bins.pop()
            bins[-1][0] += r
            bins[-1][1] += n
    rate = lambda b: b[0] / b[1]  # noqa: E731
    while len(bins) > 1 and min(b[1] for b in bins) < min_bin:
        i = min(range(len(bins)), key=lambda k: bins[k][1])
        if i == 0:
            j = 1
        elif i == len(bins) - 1:
            j = i - 1
        else:
            j = i - 1 if abs(rate(bins[i - 1]) - rate(bins[i])) <= abs(rate(bins[i + 1]) - rate(bins[i])) else i + 1
        a, b = sorted((i, j))
        bins[a] = [bins[a][0] + bins[b][0], bins[a][1] + bins[b][1], bins[a][2]]
        del bins[b]
    return tuple((float(np.floor(b[2] * 1e4) / 1e4), round(rate(b), 4)) for b in bins)  # floor: the bin's lowest stays in it


def fit(samples: list[Sample]) -> dict:
    """Everything ``AnswerSettings`` needs for the fused lead, with the dev figures that chose it."""
    w = fit_weights(samples)
    folded = out_of_fold(samples)
    usable = [f for s, f in zip(samples, folded) if len(s.y)]
    table = calibrate([p for _, p in usable], [r for r, _ in usable])
    from ..config import AnswerSettings

    st = AnswerSettings(chance_table=table, high_chance=HIGH_PRECISION, medium_chance=MEDIUM_PRECISION)
    levels: dict[str, list[bool]] = {}
    for right, p in usable:
        levels.setdefault(confidence_level(0.0, False, st, "logit", lead_chance(p, st)), []).append(right)
    inscope = [f for s, f in zip(samples, folded) if not s.out_of_scope]
    return {
        "lead_weights": tuple((name, round(float(v), 4)) for name, v in zip(lead.FEATURES, w)),
        "chance_table": table,
        "high_chance": HIGH_PRECISION,
        "medium_chance": MEDIUM_PRECISION,
        "dev_levels_out_of_fold": {k: f"{sum(v)} right of {len(v)}" for k, v in sorted(levels.items())},
        "dev_lead_out_of_fold": round(float(np.mean([r for r, _ in inscope])), 4) if inscope else float("nan"),
        "dev_lead_in_sample": round(float(np.mean([lead_probability(s, w)[0] if len(s.y) else False
                                                   for s in samples if not s.out_of_scope])), 4),
        "questions": len(samples),
    }
