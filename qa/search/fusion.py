"""Rank fusion: pure functions of ranked lists."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

RRF_K = 60
"""The constant in 1 / (k + rank), from Cormack, Clarke and Buettcher (SIGIR 2009).

It damps the weight of the very top ranks so that one list's first place does
not outvote agreement between lists; 60 is the value the paper found robust
and the one most hybrid search systems use.
"""


def rrf(rankings: Sequence[Sequence[Hashable]], k: int = RRF_K, weights: Sequence[float] | None = None) -> dict:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    >>> rrf([["a", "b"], ["b", "c"]])["b"] == 1 / 62 + 1 / 61
    True
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return scores


def ranked(scores: dict) -> list:
    """Items by descending score, ties broken by the item itself so results are deterministic."""
    return [item for item, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]
