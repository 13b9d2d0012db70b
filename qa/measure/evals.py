"""Retrieval evaluation: ask every question through the public ``Engine.ask`` and score what comes back.

Metrics are computed (``ranking``, trec_eval's definitions) on a run where each question's first hit gets
the one relevant id and everything else is a non-relevant passage id, so
Recall@k is the share of questions with a hit in the top k. The question file
and the hit rule are in ``evalset``; the command is in ``measure.cli``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..search.answer import ranked_highlights
from ..errors import BadQuestionError, EvalSetError
from . import ranking
from .evalset import SPLITS, Question, hit_target, overlaps_evidence

CUTOFFS = (1, 3, 5, 10)
FAIL_AT = 5
"""A question is listed as a failure when no passage in its top FAIL_AT hits (the bar is Recall@5)."""


@dataclass(frozen=True)
class Result:
    """One question asked in one mode: what came back and how it scored."""

    qid: str
    mode: str
    results: tuple[dict, ...]  # {"source", "start", "end", "score"}, best first
    hit_targets: tuple[int | None, ...]  # per result: index of the target it hits, or None
    doc_hits: tuple[bool, ...]  # per result: from a target's file
    answer_hit: bool  # the top answer sentence overlaps an evidence span
    answer_sentence: str
    confidence: float
    abstained: bool
    ms: float
    top: dict = field(default_factory=dict)  # what ranked first: source, section, text
    candidate_rank: int | None = None  # rank (from 1) of the first hit among the first stage's candidates
    level: str = ""  # the confidence level shown: "high", "medium" or "low"
    short_hit: bool | None = None  # the short answer lies inside an evidence span (None: no short answer marked)
    lead_stage: str = ""  # where the lead was lost (LEAD_STAGES; "" out of scope)
    lead_rank: int | None = None  # rank (from 1) of the first right sentence among those the lead model weighed
    second_hit: bool = False  # the second sentence the reply leads with overlaps an evidence span

    @property
    def first_hit(self) -> int | None:
        """Rank (from 1) of the first passage that hits, or None."""
        return first_hit(self.hit_targets)


def first_hit(hit_targets: Iterable[int | None]) -> int | None:
    """Rank (from 1) of the first passage that hits a target (per passage: the target's index or None), or None."""
    return next((i + 1 for i, h in enumerate(hit_targets) if h is not None), None)


CEILINGS = (20, 50, 100)
"""Depths at which the first stage's candidates are checked for a hit: no later stage can do better."""

LEAD_STAGES = {
    "right": "the lead answers",
    "choice, same passage": "the lead model chose another sentence of the passage that holds a right one",
    "choice, other passage": "the lead model chose a sentence of a passage with no right one; another it weighed held one",
    "no right sentence": "a passage the lead is chosen from hits, but none of its quotable sentences overlaps the evidence",
    "lead wrong": "the lead is wrong and the lead model did not choose it (options without it)",
    "order": "the first hit is ranked below the passages the lead is chosen from (within k)",
    "first stage order": "no hit in the top k, but one among the first stage's candidates",
    "candidates": "no hit among the first stage's candidates either",
    "not in the top k": "no hit in the top k (the first stage's candidates were not looked at)",
}
"""Where an in-scope question's lead was lost, each question counted once, at the last stage that still held the
answer (a refused question counts where its lead stood: the Sentence column does the same)."""


def lead_stage(q: Question, answer, hits: tuple[int | None, ...], lead_hit: bool, cand: int | None,
               lead_passages: int, looked: bool = True) -> tuple[str, int | None]:
    """(stage, rank of the first right sentence among those the lead model weighed) for one answer; ``cand``: the
    first hit's rank among the first stage's candidates, if ``looked`` for."""
    if q.out_of_scope:
        return "", None
    rank, same = None, False
    why = answer.lead_reason
    if why is not None:
        right = [i for i, (p, span, _) in enumerate(why.considered) if overlaps_evidence(answer.passages[p].source, span, q.targets)]
        if right:
            rank = right[0] + 1
            same = any(why.considered[i][0] == why.considered[0][0] for i in right)
    if lead_hit:
        return "right", rank
    if rank is not None:
        return ("choice, same passage" if same else "choice, other passage"), rank
    first = first_hit(hits)
    if first is not None and first <= lead_passages:
        return ("no right sentence" if why is not None else "lead wrong"), None
    if first is not None:
        return "order", None
    if not looked:
        return "not in the top k", None
    return ("first stage order" if cand is not None else "candidates"), None


def ask_one(engine, q: Question, mode: str, k: int, ceiling: int = max(CEILINGS)) -> Result:
    t0 = time.perf_counter()
    try:
        answer = engine.ask(q.question, k=k, mode=mode)
    except BadQuestionError as e:
        raise EvalSetError(f"Question {q.id}: {e}") from None
    ms = answer.timings.get("total_ms", (time.perf_counter() - t0) * 1e3)
    results = tuple(
        {"source": p.source, "start": p.start, "end": p.end, "score": round(float(p.score), 6)}
        | ({"pages": p.pages} if p.pages else {}) for p in answer.passages
    )
    sources = {t.source for t in q.targets}
    hits = tuple(hit_target(p.source, p.start, p.end, q.targets) for p in answer.passages)
    ranked = ranked_highlights(answer)  # the sentences the reply leads with, in the order `qa ask` shows them
    said = [(answer.passages[i].source, span) for i, span, _ in ranked[:2]]
    ans_hit = bool(said) and overlaps_evidence(*said[0], q.targets)
    second_hit = len(said) > 1 and overlaps_evidence(*said[1], q.targets)
    sentence = engine.document(said[0][0]).text[slice(*said[0][1])] if said else ""
    top = {}
    if answer.passages:
        p = answer.passages[0]
        top = {"source": p.source, "section": " > ".join(p.section), "start": p.start, "end": p.end, "text": p.text}
        top |= {"pages": p.pages} if p.pages else {}
    cand = None
    if q.targets and ceiling:
        pool = engine.search(q.question, k=ceiling, mode=mode)
        cand = next((i + 1 for i, h in enumerate(pool) if hit_target(h.chunk.source, h.chunk.start, h.chunk.end, q.targets) is not None), None)
    short_hit = None
    if answer.short is not None and answer.lead is not None:
        src, (a, b) = answer.passages[answer.lead[0]].source, answer.short
        short_hit = any(src == t.source and t.start <= a and b <= t.end for t in q.targets)
    stage, rank = lead_stage(q, answer, hits, ans_hit, cand, engine.settings.answer.lead_passages,
                             looked=bool(q.targets and ceiling))
    return Result(q.id, mode, results, hits, tuple(p.source in sources for p in answer.passages), ans_hit,
                  " ".join(sentence.split()), float(answer.confidence), bool(answer.abstained), float(ms), top, cand,
                  answer.level, short_hit, stage, rank, second_hit)


def run(engine, questions: list[Question], modes: Iterable[str], k: int = 10, progress: bool = True,
        ceiling: int = max(CEILINGS)) -> dict[str, list[Result]]:
    """Ask every question in every mode (and look ``ceiling`` deep into the first stage; 0: not at all)."""
    from tqdm import tqdm

    modes = list(modes)
    out: dict[str, list[Result]] = {m: [] for m in modes}
    with tqdm(total=len(questions) * len(modes), desc="eval", file=sys.stderr, disable=not progress or None) as bar:
        for m in modes:
            for q in questions:
                out[m].append(ask_one(engine, q, m, k, ceiling))
                bar.update(1)
    return out


# -- metrics ------------------------------------------------------------------------------------------


def relevance_run(qid: str, r: Result) -> tuple[dict[str, float], str]:
    """The run entry for the metrics and TREC: the first hit gets ``relevant_id``, every other passage its own id."""
    rel = f"{qid}::evidence"
    ids, used = {}, False
    n = len(r.results)
    for i, (res, h) in enumerate(zip(r.results, r.hit_targets)):
        if h is not None and not used:
            did, used = rel, True
        else:
            did = f"{res['source']}:{res['start']}-{res['end']}#{i + 1}".replace(" ", "_")
        ids[did] = float(n - i)  # strictly decreasing, so a TREC reader keeps our order
    return ids, rel


def retrieval_metrics(questions: list[Question], results: list[Result], k: int) -> dict[str, float]:
    """Recall@1/3/5/10, MRR@10, nDCG@10 (``ranking``), document-level hit rate, answer hit rate, latency."""

    by_id = {r.qid: r for r in results}
    inscope = [q for q in questions if not q.out_of_scope and q.id in by_id]
    out: dict[str, float] = {"questions": len(inscope)}
    if inscope:
        run_d, qrels_d = {}, {}
        for q in inscope:
            ids, rel = relevance_run(q.id, by_id[q.id])
            run_d[q.id] = list(ids)
            qrels_d[q.id] = {rel: 1}
        out.update({f"recall@{c}": ranking.recall(run_d, qrels_d, c) for c in CUTOFFS if c <= k})
        out[f"mrr@{min(10, k)}"] = ranking.mrr(run_d, qrels_d, min(10, k))
        out[f"ndcg@{min(10, k)}"] = ranking.ndcg(run_d, qrels_d, min(10, k))
        rs = [by_id[q.id] for q in inscope]
        out["doc_hit@1"] = float(np.mean([bool(r.doc_hits[:1]) and r.doc_hits[0] for r in rs]))
        out["doc_hit@5"] = float(np.mean([any(r.doc_hits[:5]) for r in rs]))
        out["answer_hit"] = float(np.mean([r.answer_hit for r in rs]))
        top_right = [r for r in rs if r.first_hit == 1]
        out["sentence_if_r1"] = float(np.mean([r.answer_hit for r in top_right])) if top_right else float("nan")
        out["sentence_or_next"] = float(np.mean([r.answer_hit or r.second_hit for r in rs]))
        for c in CEILINGS:
            out[f"ceiling@{c}"] = float(np.mean([r.candidate_rank is not None and r.candidate_rank <= c for r in rs]))
    rs_all = [by_id[q.id] for q in questions if q.id in by_id]
    oos = {q.id for q in questions if q.out_of_scope}
    abstained = [r for r in rs_all if r.abstained]
    out["abstained"] = len(abstained)
    out["out_of_scope"] = len(oos)
    out["abstain_precision"] = len([r for r in abstained if r.qid in oos]) / len(abstained) if abstained else float("nan")
    out["abstain_recall"] = len([r for r in abstained if r.qid in oos]) / len(oos) if oos else float("nan")
    ms = [r.ms for r in rs_all]
    out["p50_ms"] = float(np.percentile(ms, 50)) if ms else float("nan")
    out["p95_ms"] = float(np.percentile(ms, 95)) if ms else float("nan")
    return out


def split_groups(questions: list[Question], split: str) -> dict[str, list[Question]]:
    """The question groups to report: each split on its own (unsplit questions go to 'all')."""
    if split != "all":
        return {split: [q for q in questions if q.split == split]}
    groups = {s: [q for q in questions if q.split == s] for s in SPLITS}
    groups = {s: g for s, g in groups.items() if g}
    if not groups or any(not q.split for q in questions):
        groups["all"] = list(questions)
    return groups


MAX_REFUSED = 0.05
"""Calibration never refuses more than this share of the in-scope questions: a wrong refusal costs a user an answer."""


def confidences(engine, questions: list[Question], mode: str, k: int = 10, progress: bool = True) -> dict[str, float]:
    """Each question's refusal confidence when it is the first passage's logit (``Engine.refusal_confidence``)."""
    from tqdm import tqdm

    return {q.id: engine.refusal_confidence(q.question, k=k, mode=mode)
            for q in tqdm(questions, desc="confidence", file=sys.stderr, disable=not progress or None)}


def calibrate(questions: list[Question], conf: Mapping[str, float], max_refused: float = MAX_REFUSED) -> dict:
    """The abstention threshold that best separates in-scope from out-of-scope questions by confidence (``conf``:
    each question's, by id).

    Candidates are the midpoints between neighbouring confidences. Among those
    that answer at least ``1 - max_refused`` of the in-scope questions, the one
    with the best balanced accuracy (mean of the in-scope answer rate and the
    out-of-scope abstention rate) wins; ties go to the lower threshold, so
    fewer real questions are refused. ``same_decisions`` is the interval (lo, hi] of thresholds that refuse
    exactly the same questions: another build's confidences differ in the last digits, so a threshold is checked
    by the decisions it makes, not by its digits.
    """
    ins = np.array([conf[q.id] for q in questions if not q.out_of_scope and q.id in conf])
    oos = np.array([conf[q.id] for q in questions if q.out_of_scope and q.id in conf])
    if not len(ins) or not len(oos):
        raise EvalSetError("Calibration needs both in-scope and out-of-scope questions (\"out_of_scope\": true) in the split.")
    vals = np.unique(np.concatenate([ins, oos]))
    cands = np.concatenate([[vals[0] - 1e-3], (vals[:-1] + vals[1:]) / 2, [vals[-1] + 1e-3]])
    best = None
    for t in cands:
        answered, refused = float(np.mean(ins >= t)), float(np.mean(oos < t))
        if answered < 1 - max_refused - 1e-12:
            continue
        score = (answered + refused) / 2
        if best is None or score > best["balanced_accuracy"] + 1e-12:
            best = {"threshold": round(float(t), 4), "_t": float(t), "balanced_accuracy": score, "in_scope_answered": answered,
                    "out_of_scope_abstained": refused}
    t = best.pop("_t")
    below, above = vals[vals < t], vals[vals >= t]
    best["same_decisions"] = [float(below.max()) if len(below) else None, float(above.min()) if len(above) else None]
    best.update(in_scope=len(ins), out_of_scope=len(oos), max_refused=max_refused,
                in_scope_min=round(float(ins.min()), 4), out_of_scope_max=round(float(oos.max()), 4))
    return best


