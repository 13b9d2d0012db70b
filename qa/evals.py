"""Retrieval evaluation: ``python -m qa eval``, run through the public ``Engine.ask``.

A question names the file that answers it and a verbatim ``evidence`` quote
from it (optionally ``also`` other files holding an equally good quote). A
retrieved passage *hits* when it comes from one of those files and its
``[start, end)`` span covers at least half of the evidence's characters there.
Metrics are computed with ranx on a run where each question's first hit gets
the one relevant id and everything else is a non-relevant passage id, so
Recall@k is the share of questions with a hit in the top k.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import MODES, PROJECT_ROOT
from .errors import EvalSetError

DEFAULT_QUESTIONS = PROJECT_ROOT / "evals" / "questions.jsonl"
SPLITS = ("dev", "test")
CUTOFFS = (1, 3, 5, 10)
FAIL_AT = 5
"""A question is listed as a failure when no passage in its top FAIL_AT hits (the bar is Recall@5)."""
MIN_COVER = 0.5
"""A passage must cover at least this share of the evidence's characters to count as a hit."""

STOP = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with what who whom whose how why when where which do does did done has have had were been "
    "being can could would should may might must shall about from its his her our your my me we you he she them us "
    "i according say says said tell describe mention mentioned".split()
)
"""Words left out of the paraphrase check: function words and the verbs of asking."""


# -- the question set ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One acceptable answer location: ``evidence`` found at ``[start, end)`` of ``source``."""

    source: str
    evidence: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    targets: tuple[Target, ...]  # empty when out of scope
    split: str = ""
    out_of_scope: bool = False

    @property
    def evidence(self) -> str:
        return self.targets[0].evidence if self.targets else ""


def _target(raw: dict, where: str) -> Target:
    src, ev = raw.get("source"), raw.get("evidence")
    if not isinstance(src, str) or not src or not isinstance(ev, str) or not ev.strip():
        raise EvalSetError(f"{where}: needs a non-empty 'source' (file name) and 'evidence' (verbatim quote).")
    return Target(src, ev)


def parse_question(raw: object, where: str) -> Question:
    if not isinstance(raw, dict):
        raise EvalSetError(f"{where}: each line must be a JSON object.")
    qid, text = raw.get("id"), raw.get("question")
    if not isinstance(qid, (str, int)) or str(qid).strip() == "":
        raise EvalSetError(f"{where}: missing 'id'.")
    if not isinstance(text, str) or not text.strip():
        raise EvalSetError(f"{where} ({qid}): missing 'question'.")
    split = raw.get("split") or ""
    if split and split not in SPLITS:
        raise EvalSetError(f"{where} ({qid}): 'split' must be one of {SPLITS}, got {split!r}.")
    if raw.get("out_of_scope"):
        return Question(str(qid), text, (), split, True)
    targets = [_target(raw, f"{where} ({qid})")]
    also = raw.get("also") or []
    if not isinstance(also, list):
        raise EvalSetError(f"{where} ({qid}): 'also' must be a list of {{\"source\", \"evidence\"}} objects.")
    for a in also:
        targets.append(_target(a if isinstance(a, dict) else {}, f"{where} ({qid}) also"))
    return Question(str(qid), text, tuple(targets), split, False)


def load_questions(path: str | Path = DEFAULT_QUESTIONS) -> list[Question]:
    """Questions from a JSON-lines file, or EvalSetError naming the line to fix."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"No question file at {path}. Pass --questions PATH (one JSON object a line).")
    out, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalSetError(f"{path}:{n}: not valid JSON ({e.msg}).") from None
        q = parse_question(raw, f"{path.name}:{n}")
        if q.id in seen:
            raise EvalSetError(f"{path.name}:{n}: duplicate id {q.id!r}.")
        seen.add(q.id)
        out.append(q)
    if not out:
        raise EvalSetError(f"{path} holds no questions.")
    return out


def locate(questions: list[Question], text_of: Callable[[str], str]) -> list[Question]:
    """Fill each target's span: where its evidence stands in the document text as loaded."""
    out = []
    for q in questions:
        targets = []
        for t in q.targets:
            try:
                text = text_of(t.source)
            except Exception as e:
                raise EvalSetError(f"Question {q.id}: source {t.source!r} is not in the index ({e}).") from None
            at = text.find(t.evidence)
            if at < 0:
                raise EvalSetError(
                    f"Question {q.id}: the evidence is not verbatim in {t.source}: {t.evidence[:80]!r}. Fix the quote."
                )
            targets.append(Target(t.source, t.evidence, at, at + len(t.evidence)))
        out.append(Question(q.id, q.question, tuple(targets), q.split, q.out_of_scope))
    return out


# -- the paraphrase check -----------------------------------------------------------------------------


def content_words(s: str) -> set[str]:
    return {t for t in re.findall(r"[a-z0-9]+", s.lower()) if len(t) > 1 and t not in STOP}


def word_overlap(question: str, evidence: str) -> float:
    """Share of the question's content words that also appear in its evidence."""
    q = content_words(question)
    return len(q & content_words(evidence)) / len(q) if q else 0.0


def mean_overlap(questions: Iterable[Question]) -> float:
    vals = [word_overlap(q.question, q.evidence) for q in questions if not q.out_of_scope]
    return float(np.mean(vals)) if vals else 0.0


# -- the hit rule -------------------------------------------------------------------------------------


def span_overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def hit_target(source: str, start: int, end: int, targets: Iterable[Target]) -> int | None:
    """Index of the first target this passage hits, or None."""
    for i, t in enumerate(targets):
        if source == t.source and span_overlap((start, end), (t.start, t.end)) >= MIN_COVER * (t.end - t.start):
            return i
    return None


# -- running ------------------------------------------------------------------------------------------


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

    @property
    def first_hit(self) -> int | None:
        """Rank (from 1) of the first passage that hits, or None."""
        return next((i + 1 for i, h in enumerate(self.hit_targets) if h is not None), None)


def top_sentence(answer) -> tuple[str, int, int, float] | None:
    """(source, start, end, score) of the answer's first highlighted sentence, the one `qa ask` shows first."""
    from .answer import ranked_highlights

    ranked = ranked_highlights(answer)
    if not ranked:
        return None
    i, (a, b), score = ranked[0]
    return answer.passages[i].source, a, b, score


def ask_one(engine, q: Question, mode: str, k: int) -> Result:
    from .errors import BadQuestionError

    t0 = time.perf_counter()
    try:
        answer = engine.ask(q.question, k=k, mode=mode)
    except BadQuestionError as e:
        raise EvalSetError(f"Question {q.id}: {e}") from None
    ms = answer.timings.get("total_ms", (time.perf_counter() - t0) * 1e3)
    results = tuple(
        {"source": p.source, "start": p.start, "end": p.end, "score": round(float(p.score), 6)} for p in answer.passages
    )
    sources = {t.source for t in q.targets}
    hits = tuple(hit_target(p.source, p.start, p.end, q.targets) for p in answer.passages)
    best = top_sentence(answer)
    ans_hit, sentence = False, ""
    if best is not None:
        src, a, b, _ = best
        ans_hit = any(src == t.source and span_overlap((a, b), (t.start, t.end)) > 0 for t in q.targets)
        sentence = engine.document(src).text[a:b]
    top = {}
    if answer.passages:
        p = answer.passages[0]
        top = {"source": p.source, "section": " > ".join(p.section), "start": p.start, "end": p.end, "text": p.text}
    return Result(q.id, mode, results, hits, tuple(p.source in sources for p in answer.passages), ans_hit,
                  " ".join(sentence.split()), float(answer.confidence), bool(answer.abstained), float(ms), top)


def run(engine, questions: list[Question], modes: Iterable[str], k: int = 10, progress: bool = True) -> dict[str, list[Result]]:
    """Ask every question in every mode; a tqdm bar on stderr while it runs."""
    from tqdm import tqdm

    modes = list(modes)
    out: dict[str, list[Result]] = {m: [] for m in modes}
    with tqdm(total=len(questions) * len(modes), desc="eval", file=sys.stderr, disable=not progress or None) as bar:
        for m in modes:
            for q in questions:
                out[m].append(ask_one(engine, q, m, k))
                bar.update(1)
    return out


# -- metrics ------------------------------------------------------------------------------------------


def relevance_run(qid: str, r: Result) -> tuple[dict[str, float], str]:
    """The run entry for ranx/TREC: the first hit gets ``relevant_id``, every other passage its own id."""
    rel = f"{qid}::evidence"
    ids, used = {}, False
    n = len(r.results)
    for i, (res, h) in enumerate(zip(r.results, r.hit_targets)):
        if h is not None and not used:
            did, used = rel, True
        else:
            did = f"{res['source']}:{res['start']}-{res['end']}#{i + 1}".replace(" ", "_")
        ids[did] = float(n - i)  # strictly decreasing, so ranx keeps our order
    return ids, rel


def retrieval_metrics(questions: list[Question], results: list[Result], k: int) -> dict[str, float]:
    """Recall@1/3/5/10, MRR@10, nDCG@10 (ranx), document-level hit rate, answer hit rate, latency."""
    from ranx import Qrels, Run, evaluate

    by_id = {r.qid: r for r in results}
    inscope = [q for q in questions if not q.out_of_scope and q.id in by_id]
    out: dict[str, float] = {"questions": len(inscope)}
    if inscope:
        run_d, qrels_d = {}, {}
        for q in inscope:
            ids, rel = relevance_run(q.id, by_id[q.id])
            run_d[q.id] = ids or {f"{q.id}::none": 0.0}
            qrels_d[q.id] = {rel: 1}
        names = [f"recall@{c}" for c in CUTOFFS if c <= k] + [f"mrr@{min(10, k)}", f"ndcg@{min(10, k)}"]
        scores = evaluate(Qrels(qrels_d), Run(run_d), names, make_comparable=True)
        out.update({n: float(v) for n, v in scores.items()})
        rs = [by_id[q.id] for q in inscope]
        out["doc_hit@1"] = float(np.mean([bool(r.doc_hits[:1]) and r.doc_hits[0] for r in rs]))
        out["doc_hit@5"] = float(np.mean([any(r.doc_hits[:5]) for r in rs]))
        out["answer_hit"] = float(np.mean([r.answer_hit for r in rs]))
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


def calibrate(questions: list[Question], results: list[Result], max_refused: float = MAX_REFUSED) -> dict:
    """The abstention threshold that best separates in-scope from out-of-scope questions by confidence.

    Candidates are the midpoints between neighbouring confidences. Among those
    that answer at least ``1 - max_refused`` of the in-scope questions, the one
    with the best balanced accuracy (mean of the in-scope answer rate and the
    out-of-scope abstention rate) wins; ties go to the lower threshold, so
    fewer real questions are refused.
    """
    conf = {r.qid: r.confidence for r in results}
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
            best = {"threshold": round(float(t), 4), "balanced_accuracy": score, "in_scope_answered": answered,
                    "out_of_scope_abstained": refused}
    best.update(in_scope=len(ins), out_of_scope=len(oos), max_refused=max_refused,
                in_scope_min=round(float(ins.min()), 4), out_of_scope_max=round(float(oos.max()), 4))
    return best


# -- the command --------------------------------------------------------------------------------------


def add_arguments(p) -> None:
    p.add_argument("--questions", default=str(DEFAULT_QUESTIONS), help="question file, JSON lines (default: evals/questions.jsonl)")
    p.add_argument("--corpus", help="documents folder (default: $QA_CORPUS or seeds/)")
    p.add_argument("--k", type=int, default=10, help="passages retrieved per question (default 10)")
    p.add_argument("--mode", choices=(*MODES, "all"), default="hybrid", help="retrieval mode, or all three side by side")
    p.add_argument("--split", choices=(*SPLITS, "all"), default="all", help="which split (default: all, each reported separately)")
    p.add_argument("--run", metavar="PATH", help="write one JSON line per question with its ranked results")
    p.add_argument("--trec", metavar="PATH", help="write a TREC run file (and PATH.qrels) for trec_eval or ranx")
    p.add_argument("--report", metavar="PATH", help="write the results as Markdown, with a JSON summary beside it")
    p.add_argument("--calibrate", action="store_true", help="choose the abstention threshold on the dev split and print it")
    p.add_argument("--failures", type=int, default=20, help="failures printed per mode (default 20; the report lists all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args, engine=None) -> int:
    """Run the command; ``engine`` lets a caller (the tests) reuse an open Engine instead of opening one."""
    from . import evalreport
    from .cli import _engine

    if not 1 <= args.k <= 50:
        raise EvalSetError(f"--k must be between 1 and 50, got {args.k}.")
    questions = load_questions(args.questions)
    if args.calibrate:
        questions = [q for q in questions if q.split in ("dev", "")]
    elif args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    if not questions:
        raise EvalSetError(f"No questions in split {args.split!r} of {args.questions}.")
    engine = engine or _engine(args)
    questions = locate(questions, lambda s: engine.document(s).text)
    modes = ["hybrid"] if args.calibrate else list(MODES) if args.mode == "all" else [args.mode]
    results = run(engine, questions, modes, k=args.k, progress=not args.no_progress)
    if args.calibrate:
        c = calibrate(questions, results["hybrid"])
        print(json.dumps(c, indent=2))
        print(f"ABSTAIN_THRESHOLD = {c['threshold']}  (set it in qa/answer.py)")
        return 0
    summary = evalreport.summarize(engine, questions, results, args)
    print(evalreport.console(summary, results, questions, args.failures))
    if args.run:
        evalreport.write_run(args.run, results)
    if args.trec:
        evalreport.write_trec(args.trec, questions, results)
    if args.report:
        evalreport.write_report(args.report, summary, results, questions)
    return 0
