"""Ranking metrics, computed exactly as trec_eval defines them, and TREC run and qrels files read back.

A run is each query's ids in ranked order; qrels give each query's relevant ids with their grade (> 0 is
relevant). Every mean is over the queries of the qrels that have a relevant id; a query the run leaves out
scores 0. For one relevant id per query (``qa eval``), Recall@k is the share of queries with it in the top k,
MRR@k the mean of 1 / its rank, nDCG@k the mean of 1 / log2(rank + 1).

These few lines replace ranx, whose numba kernels were compiled again in every process (12 s of a 7-question
``qa eval`` with a warm cache, about a minute in a fresh environment) for sums a reader can check by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, int]]


def _mean(run: Run, qrels: Qrels, per_query: Callable[[Sequence[str], Mapping[str, int]], float]) -> float:
    judged = [(q, rel) for q, rel in qrels.items() if any(g > 0 for g in rel.values())]
    if not judged:
        return float("nan")
    return sum(per_query(run.get(q, ()), rel) for q, rel in judged) / len(judged)


def recall(run: Run, qrels: Qrels, k: int) -> float:
    """Mean share of each query's relevant ids found in its top k."""
    def one(ids, rel):
        wanted = {d for d, g in rel.items() if g > 0}
        return len(wanted.intersection(ids[:k])) / len(wanted)
    return _mean(run, qrels, one)


def mrr(run: Run, qrels: Qrels, k: int) -> float:
    """Mean of 1 / the rank of each query's first relevant id in its top k (0 when none is)."""
    def one(ids, rel):
        return next((1.0 / (i + 1) for i, d in enumerate(ids[:k]) if rel.get(d, 0) > 0), 0.0)
    return _mean(run, qrels, one)


def ndcg(run: Run, qrels: Qrels, k: int) -> float:
    """Mean nDCG@k: gain = the grade, discount log2(rank + 1), over the ideal order of the query's grades
    (trec_eval's ndcg_cut)."""
    def one(ids, rel):
        dcg = sum(max(rel.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ids[:k]))
        ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted((g for g in rel.values() if g > 0), reverse=True)[:k]))
        return dcg / ideal
    return _mean(run, qrels, one)


def read_trec_run(path: str | Path) -> dict[str, list[str]]:
    """``qid Q0 docid rank score tag`` lines: each query's ids by score, highest first (ties by the file's order)."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        if line.strip():
            q, _, doc, _, score, *_ = line.split()
            rows.setdefault(q, []).append((-float(score), n, doc))
    return {q: [doc for *_, doc in sorted(r)] for q, r in rows.items()}


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """``qid 0 docid grade`` lines."""
    out: dict[str, dict[str, int]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            q, _, doc, grade = line.split()[:4]
            out.setdefault(q, {})[doc] = int(grade)
    return out
