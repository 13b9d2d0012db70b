"""Output of ``python -m qa eval``: console table, Markdown report + JSON summary, run and TREC files."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ..config import PROJECT_ROOT
from .evals import FAIL_AT, Result, relevance_run, retrieval_metrics, split_groups
from .evalset import Question, mean_overlap

COLUMNS = [
    ("answer_hit", "Sentence"), ("sentence_if_r1", "Sent@R1"), ("sentence_or_next", "Sent@2"), ("recall@1", "R@1"),
    ("recall@3", "R@3"), ("recall@5", "R@5"), ("recall@10", "R@10"),
    ("mrr@10", "MRR@10"), ("ndcg@10", "nDCG@10"), ("doc_hit@1", "Doc@1"), ("doc_hit@5", "Doc@5"),
    ("ceiling@20", "C@20"), ("ceiling@50", "C@50"), ("ceiling@100", "C@100"),
    ("abstain_precision", "Abst P"), ("abstain_recall", "Abst R"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"),
]


def settings_snapshot(engine) -> dict:
    """Every setting the figures were measured with (the engine's Settings, whole), the model and the index size."""
    from ..search.rerank import describe

    m = engine.index.manifest
    return {
        "model": m.get("model", {}).get("name"),
        "settings": engine.settings.to_dict(),
        "rerank": describe(engine.settings.rerank),
        "late_interaction": m.get("settings", {}).get("late_interaction"),
        "second_dense": m.get("settings", {}).get("second_dense"),
        "counts": m.get("counts"),
    }


def failure(q: Question, r: Result) -> dict:
    return {
        "id": q.id,
        "split": q.split,
        "question": q.question,
        "expected": [{"source": t.source, "start": t.start, "end": t.end, "evidence": t.evidence} for t in q.targets],
        "first_hit_rank": r.first_hit,
        "top": {**r.top, "text": " ".join(r.top.get("text", "").split())[:400]},
        "answer_sentence": r.answer_sentence[:400],
    }


def summarize(engine, questions: list[Question], results: dict[str, list[Result]], args) -> dict:
    groups = split_groups(questions, getattr(args, "split", "all"))
    metrics = {s: {m: retrieval_metrics(g, rs, args.k) for m, rs in results.items()} for s, g in groups.items()}
    by_id = {q.id: q for q in questions}
    failures = {
        m: [failure(by_id[r.qid], r) for r in rs if not by_id[r.qid].out_of_scope and (r.first_hit or FAIL_AT + 1) > FAIL_AT]
        for m, rs in results.items()
    }
    qfile = Path(args.questions).resolve()
    if qfile.is_relative_to(PROJECT_ROOT):
        qfile = qfile.relative_to(PROJECT_ROOT)
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "questions_file": str(qfile),
        "k": args.k,
        "counts": {s: {"in_scope": sum(not q.out_of_scope for q in g), "out_of_scope": sum(q.out_of_scope for q in g)}
                   for s, g in groups.items()},
        "mean_word_overlap": round(mean_overlap(questions), 4),
        "settings": settings_snapshot(engine),
        "metrics": metrics,
        "failures": failures,
    }


def _fmt(key: str, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.1f}" if key.endswith("_ms") else f"{v:.3f}"


def table(summary: dict) -> list[str]:
    head = ["split", "mode", "n"] + [c for _, c in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for split, by_mode in summary["metrics"].items():
        for mode, m in by_mode.items():
            cells = [split, mode, str(m["questions"])] + [_fmt(k, m.get(k)) for k, _ in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _failure_lines(f: dict) -> list[str]:
    where = f"hit first at rank {f['first_hit_rank']}" if f["first_hit_rank"] else "no hit in the top k"
    lines = [f"- **{f['id']}** ({f['split']}, {where}): {f['question']}"]
    for e in f["expected"]:
        lines.append(f"  - expected {e['source']} [{e['start']}:{e['end']}]: “{e['evidence']}”")
    t = f["top"]
    if t:
        lines.append(f"  - ranked first: {t['source']}{', ' + t['pages'] if t.get('pages') else ''} [{t['start']}:{t['end']}] {t.get('section', '')}: “{t['text'][:240]}”")
    if f["answer_sentence"]:
        lines.append(f"  - answer sentence: “{f['answer_sentence'][:240]}”")
    return lines


def console(summary: dict, results: dict[str, list[Result]], questions: list[Question], limit: int = 20) -> str:
    lines = table(summary)
    lines += ["", f"Mean question/evidence content-word overlap: {summary['mean_word_overlap']:.3f} (in-scope questions)",
              f"Hit: a passage from the evidence's file covering >= half of the evidence. Failures: no hit in the top {FAIL_AT}."]
    lines += _breakdowns(summary, results, questions, list(results)[:1])
    for mode, fs in summary["failures"].items():
        lines += ["", f"Failures, {mode} ({len(fs)}):"]
        for f in fs[:limit]:
            lines += _failure_lines(f)
        if len(fs) > limit:
            lines.append(f"  ... {len(fs) - limit} more (see --report)")
    return "\n".join(lines)


def _breakdowns(summary: dict, results: dict[str, list[Result]], questions: list[Question], modes: list[str]) -> list[str]:
    """Each split's breakdown (levels, short answers, by question type and document) for ``modes``."""
    from . import breakdown

    out = []
    for mode in modes:
        for split in summary["metrics"]:
            out += ["", f"### {mode}, {split}", ""] + breakdown.lines(questions, results[mode], split)
    return out


def write_report(path: str | Path, summary: dict, results: dict[str, list[Result]], questions: list[Question]) -> Path:
    """The Markdown report at ``path`` and the JSON summary beside it (same name, .json)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = summary["settings"]
    lines = [
        "# Retrieval evaluation",
        "",
        f"Questions: `{summary['questions_file']}`; k = {summary['k']}; created {summary['created']}.",
        "Counts: " + "; ".join(f"{sp}: {c['in_scope']} in scope, {c['out_of_scope']} out of scope" for sp, c in summary["counts"].items()) + ".",
        f"Mean question/evidence content-word overlap: {summary['mean_word_overlap']:.3f}.",
        "",
        "A passage hits when it comes from the evidence's file (or an `also` file) and its span covers at least "
        "half of the evidence. R@k: share of questions with a hit in the top k; MRR@10 and nDCG@10 (trec_eval's definitions) with the "
        "first hit as the one relevant item; Doc@k: a passage from the right file in the top k; Sentence: the first "
        "sentence the answer shows overlaps the evidence; Sent@R1: the same, among questions whose first passage hits; "
        "Sent@2: the first or the second sentence the reply leads with does; C@n: a hit among the first stage's n "
        "candidates (the ceiling "
        "for reranking); Abst P/R: abstention precision/recall against the out-of-scope "
        "questions; latency of `Engine.ask` per question.",
        "",
        *table(summary),
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(s, indent=2),
        "```",
    ]
    lines += _breakdowns(summary, results, questions, list(results))
    for mode, fs in summary["failures"].items():
        lines += ["", f"## Failures: {mode} ({len(fs)} with no hit in the top {FAIL_AT})", ""]
        for f in fs:
            lines += _failure_lines(f)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    brief = {**summary, "failures": {m: [{"id": f["id"], "split": f["split"], "first_hit_rank": f["first_hit_rank"]} for f in fs]
                                     for m, fs in summary["failures"].items()}}
    path.with_suffix(".json").write_text(json.dumps(brief, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _per_mode(path: str | Path, mode: str, several: bool) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}.{mode}{path.suffix}") if several else path


def write_run(path: str | Path, results: dict[str, list[Result]]) -> list[Path]:
    """One JSON line per question, results best first; with several modes, one file each (PATH.<mode>.ext)."""
    out = []
    for mode, rs in results.items():
        p = _per_mode(path, mode, len(results) > 1)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            for r in rs:
                f.write(json.dumps({"id": r.qid, "mode": mode, "first_hit": r.first_hit, "lead_hit": r.answer_hit,
                                    "second_hit": r.second_hit, "level": r.level, "abstained": r.abstained, "short_hit": r.short_hit,
                                    "lead_stage": r.lead_stage, "lead_rank": r.lead_rank,
                                    "results": list(r.results)}, ensure_ascii=False) + "\n")
        out.append(p)
    return out


def write_trec(path: str | Path, questions: list[Question], results: dict[str, list[Result]]) -> list[Path]:
    """TREC run file(s) ``qid Q0 docid rank score tag`` and qrels at PATH.qrels (``qid 0 docid 1``).

    The docid of a question's first hit is ``<qid>::evidence`` (the one relevant id in the qrels); every
    other passage is ``source:start-end#rank``. trec_eval on these files gives the figures above (``ranking.read_trec_run`` reads them back).
    """
    inscope = {q.id for q in questions if not q.out_of_scope}
    out = []
    for mode, rs in results.items():
        p = _per_mode(path, mode, len(results) > 1)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            for r in rs:
                if r.qid not in inscope:
                    continue
                ids, _ = relevance_run(r.qid, r)
                for rank, (did, score) in enumerate(ids.items(), 1):
                    f.write(f"{r.qid} Q0 {did} {rank} {score:g} qa-{mode}\n")
        out.append(p)
    qrels = Path(f"{path}.qrels")
    with open(qrels, "w", encoding="utf-8") as f:
        for q in questions:
            if q.id in inscope:
                f.write(f"{q.id} 0 {q.id}::evidence 1\n")
    return out + [qrels]
