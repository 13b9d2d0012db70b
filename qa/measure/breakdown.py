"""What the headline figures hide: each metric by question type and by document, the precision of each
confidence level, the short answers, where the lead is lost stage by stage, what refusing more would cost, and a
paired test between two runs (``qa eval --compare A B``).

The paired test is an exact two-sided sign test over the questions on which the two runs differ: with 98
questions one question moves a rate by .010, so a change is told from noise only by how many questions each
side won.

    >>> sign_test(8, 2)
    0.109375
    >>> sign_test(0, 0)
    1.0
    >>> question_type("How many leaders did Timmins interview?")
    'how many/much'
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from math import ceil, comb
from pathlib import Path

from .evals import LEAD_STAGES, Result
from .evalset import Question

LEVELS = ("high", "medium", "low", "refused")

_TYPES = (
    (re.compile(r"\bhow (?:many|much)\b", re.I), "how many/much"),
    (re.compile(r"\bwho(?:m|se)?\b", re.I), "who"),
    (re.compile(r"\bwhen\b", re.I), "when"),
    (re.compile(r"\bwhere\b", re.I), "where"),
    (re.compile(r"\bwhy\b", re.I), "why"),
    (re.compile(r"\bhow\b", re.I), "how"),
    (re.compile(r"\bwhich\b", re.I), "which"),
    (re.compile(r"\bwhat\b", re.I), "what"),
)


def question_type(question: str) -> str:
    """The question's type by its first telling word: who / what / how many/much / why ... or "other"."""
    best = None
    for pattern, name in _TYPES:
        m = pattern.search(question)
        if m and (best is None or m.start() < best[0] or (m.start() == best[0] and name == "how many/much")):
            best = (m.start(), name)
    return best[1] if best else "other"


def _rates(pairs: list[tuple[Question, Result]]) -> dict:
    n = len(pairs)
    return {
        "n": n,
        "R@1": sum(r.first_hit == 1 for _, r in pairs) / n,
        "R@5": sum(r.first_hit is not None and r.first_hit <= 5 for _, r in pairs) / n,
        "lead": sum(r.answer_hit for _, r in pairs) / n,
    }


def by_group(questions: list[Question], results: list[Result], key) -> dict[str, dict]:
    """R@1, R@5 and lead per group of in-scope questions, ``key(question)`` naming the group."""
    by_id = {r.qid: r for r in results}
    groups: dict[str, list] = defaultdict(list)
    for q in questions:
        if not q.out_of_scope and q.id in by_id:
            groups[key(q)].append((q, by_id[q.id]))
    return {g: _rates(pairs) for g, pairs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))}


def levels(questions: list[Question], results: list[Result]) -> dict[str, dict]:
    """Per level shown ("refused" for a refusal): how many answers, and the share whose lead answered."""
    by_id = {r.qid: r for r in results}
    out = {}
    for level in LEVELS:
        rs = [(q, by_id[q.id]) for q in questions if q.id in by_id
              and (by_id[q.id].abstained if level == "refused" else not by_id[q.id].abstained and by_id[q.id].level == level)]
        right = sum(r.answer_hit for q, r in rs if not q.out_of_scope)
        out[level] = {"n": len(rs), "out_of_scope": sum(q.out_of_scope for q, _ in rs),
                      "lead_right": right / len(rs) if rs else float("nan")}
    return out


def short_answers(questions: list[Question], results: list[Result]) -> dict:
    """How often a short answer was marked (in-scope questions) and how often it lies inside the evidence."""
    by_id = {r.qid: r for r in results}
    rs = [by_id[q.id] for q in questions if not q.out_of_scope and q.id in by_id]
    marked = [r for r in rs if r.short_hit is not None]
    return {"questions": len(rs), "marked": len(marked),
            "inside_evidence": sum(bool(r.short_hit) for r in marked) / len(marked) if marked else float("nan")}


def lead_losses(questions: list[Question], results: list[Result]) -> dict:
    """How many in-scope questions each stage lost the lead at (evals.LEAD_STAGES), and how many of those the lead
    model lost had a right sentence ranked second."""
    by_id = {r.qid: r for r in results}
    rs = [by_id[q.id] for q in questions if not q.out_of_scope and q.id in by_id]
    counts = {stage: sum(r.lead_stage == stage for r in rs) for stage in LEAD_STAGES}
    chosen_wrong = [r for r in rs if r.lead_stage.startswith("choice")]
    return {"questions": len(rs), "stages": {k: v for k, v in counts.items() if v},
            "second": sum(r.lead_rank == 2 for r in chosen_wrong), "choice": len(chosen_wrong)}


def refusal_trade(questions: list[Question], results: list[Result], share: float = 0.8) -> dict:
    """Refusals as made, and what one threshold on the same confidence would cost to refuse ``share`` of the
    out-of-scope questions: the answerable questions it would refuse as well."""
    by_id = {r.qid: r for r in results}
    inside = [by_id[q.id] for q in questions if not q.out_of_scope and q.id in by_id]
    outside = [by_id[q.id] for q in questions if q.out_of_scope and q.id in by_id]
    out = {"answerable": len(inside), "out_of_scope": len(outside), "refused_answerable": sum(r.abstained for r in inside),
           "refused_out_of_scope": sum(r.abstained for r in outside), "share": share, "would_refuse_answerable": None}
    if outside:
        need = max(1, ceil(len(outside) * share - 1e-9))  # 15 x 0.8 is 12, not 13, whatever the rounding
        bar = sorted(r.confidence for r in outside)[need - 1]
        out["would_refuse_answerable"] = sum(r.confidence <= bar for r in inside)
        out["would_refuse_out_of_scope"] = sum(r.confidence <= bar for r in outside)
    return out


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if both sides were equally good."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    p = sum(comb(n, i) for i in range(k + 1)) / 2**n * 2
    return min(1.0, p)


OUTCOMES = {
    "lead": lambda row: bool(row.get("lead_hit")),
    "R@1": lambda row: row.get("first_hit") == 1,
    "R@5": lambda row: row.get("first_hit") is not None and row["first_hit"] <= 5,
}


def read_run(path: str | Path) -> dict[str, dict]:
    rows = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                row = json.loads(line)
                if "lead_hit" not in row:
                    raise ValueError(f"{path}:{n} has no outcomes: write runs with this version's `qa eval --run PATH`.")
                rows[row["id"]] = row
    return rows


def compare(a: dict[str, dict], b: dict[str, dict], questions: list[Question]) -> dict[str, dict]:
    """Per split and outcome: questions where B beat A, where A beat B, and the sign test's p-value."""
    out: dict[str, dict] = {}
    splits = sorted({q.split or "all" for q in questions})
    for split in splits:
        ids = [q.id for q in questions if (q.split or "all") == split and not q.out_of_scope and q.id in a and q.id in b]
        out[split] = {}
        for name, outcome in OUTCOMES.items():
            wins = sum(outcome(b[i]) and not outcome(a[i]) for i in ids)
            losses = sum(outcome(a[i]) and not outcome(b[i]) for i in ids)
            out[split][name] = {"n": len(ids), "a": sum(outcome(a[i]) for i in ids) / max(1, len(ids)),
                                "b": sum(outcome(b[i]) for i in ids) / max(1, len(ids)), "b_won": wins, "a_won": losses,
                                "p": sign_test(wins, losses)}
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _f(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


def lines(questions: list[Question], results: list[Result], split: str) -> list[str]:
    """The breakdown of one split in one mode, as Markdown."""
    qs = [q for q in questions if split == "all" or q.split == split]
    out = [f"Confidence levels, {split} (lead right among in-scope answers at each level):"]
    out += _table(["level", "answers", "of them out of scope", "lead right"],
                  [[lv, str(v["n"]), str(v["out_of_scope"]), _f(v["lead_right"])] for lv, v in levels(qs, results).items()])
    s = short_answers(qs, results)
    out += ["", f"Short answers, {split}: marked for {s['marked']} of {s['questions']} questions; inside the evidence "
                f"{_f(s['inside_evidence'])} of those."]
    lost = lead_losses(qs, results)
    if lost["questions"]:
        out += ["", f"Where the lead is lost, {split} (each in-scope question once, at the last stage that still held "
                    f"the answer; {lost['questions']} questions):"]
        out += _table(["stage", "questions", "share", "what it means"],
                      [[k, str(v), _f(v / lost["questions"]), LEAD_STAGES[k]] for k, v in lost["stages"].items()])
        if lost["choice"]:
            out += ["", f"Of the {lost['choice']} lost at the lead model's choice, {lost['second']} had a right sentence "
                        "ranked second."]
    t = refusal_trade(qs, results)
    if t["out_of_scope"]:
        out += ["", f"Refusals, {split}: {t['refused_out_of_scope']} of {t['out_of_scope']} out-of-scope questions and "
                    f"{t['refused_answerable']} of {t['answerable']} answerable ones. Refusing "
                    f"{t['would_refuse_out_of_scope']} of {t['out_of_scope']} out-of-scope questions (at least "
                    f"{t['share']:.0%}) by the same confidence would refuse {t['would_refuse_answerable']} answerable ones."]
    for title, key in (("question type", lambda q: question_type(q.question)), ("document", lambda q: q.targets[0].source if q.targets else "-")):
        out += ["", f"By {title}, {split}:"]
        out += _table([title, "n", "R@1", "R@5", "lead"],
                      [[g, str(v["n"]), _f(v["R@1"]), _f(v["R@5"]), _f(v["lead"])] for g, v in by_group(qs, results, key).items()])
    return out


def compare_lines(result: dict[str, dict], a: str, b: str) -> list[str]:
    out = [f"Paired comparison, A = {a}, B = {b} (exact sign test over the questions where they differ):"]
    rows = []
    for split, by in result.items():
        for name, v in by.items():
            rows.append([split, name, str(v["n"]), _f(v["a"]), _f(v["b"]), str(v["b_won"]), str(v["a_won"]), f"{v['p']:.3f}"])
    return out + _table(["split", "outcome", "n", "A", "B", "B won", "A won", "p"], rows)
