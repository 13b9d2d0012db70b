"""The question -> source set: its file format, the paraphrase check and the hit rule.

A question names the file that answers it and a verbatim ``evidence`` quote
from it (optionally ``also`` other files holding an equally good quote). A
retrieved passage *hits* when it comes from one of those files and its
``[start, end)`` span covers at least half of the evidence's characters there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PROJECT_ROOT
from ..errors import EvalSetError

DEFAULT_QUESTIONS = PROJECT_ROOT / "evals" / "questions.jsonl"
SPLITS = ("dev", "test")
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


def overlaps_evidence(source: str, span: tuple[int, int], targets: Iterable[Target]) -> bool:
    """Whether a sentence at ``span`` of ``source`` shares a character with any target's evidence: the rule for a
    lead (or any answering sentence) being right."""
    return any(source == t.source and span_overlap(span, (t.start, t.end)) > 0 for t in targets)


def hit_target(source: str, start: int, end: int, targets: Iterable[Target]) -> int | None:
    """Index of the first target this passage hits, or None."""
    for i, t in enumerate(targets):
        if source == t.source and span_overlap((start, end), (t.start, t.end)) >= MIN_COVER * (t.end - t.start):
            return i
    return None


