"""A SQuAD-format file as a corpus and a question list (``qa eval --squad FILE``, squad.py): reading and checking
the file, one ``.txt`` document per article written to a cache folder keyed by the file's sha256, and every
answer a ``Target`` at exact offsets into the text the loader reads back.

Each answer becomes a ``Target`` at exactly the offsets its ``answer_start`` gives, checked
character for character against the text the loader reads back. Not by searching for the answer
text: a short answer ("2", "bats") occurs many times, and its first occurrence is often not the one
meant. Some published offsets are a few characters off (COVID-QA: 234 of 1,380 answers, most
with a leading space in the answer text that ``answer_start`` skips, or 2-3 characters early);
an answer whose text, stripped of surrounding white space, stands within ``REPAIR_WINDOW``
characters of its ``answer_start`` is taken there and counted as *repaired*; any other mismatch
is skipped and counted. Impossible questions (SQuAD 2.0) are skipped; duplicate answers
(the same span) are kept once.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import EvalSetError
from .evalset import Question, Target

GET_IT = ("download data/question-answering/200423_covidQA.json from the GitHub repository deepset-ai/COVID-QA "
          "(Apache-2.0) and pass its path: qa eval --squad PATH")
REPAIR_WINDOW = 8
"""Characters either side of a wrong ``answer_start`` in which the (stripped) answer text is looked for."""
SPLIT = "all"


# -- records ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """One document of the corpus: its file name and the exact text the loader will read back."""

    name: str
    text: str


@dataclass(frozen=True)
class Counts:
    """What happened to the file's questions and answers on the way to the question list."""

    questions_in_file: int = 0
    impossible: int = 0  # is_impossible: skipped
    no_valid_answer: int = 0  # no answer left after the offset check: skipped
    answers: int = 0
    answers_repaired: int = 0  # offset a few characters off, taken at the nearby exact match
    answers_mismatched: int = 0  # text not at its answer_start (nor nearby): dropped
    answers_duplicate: int = 0  # the same span again: dropped
    duplicate_ids: int = 0  # a question id seen before: given a suffix


@dataclass(frozen=True)
class SquadSet:
    """A SQuAD file as a corpus (``articles``) and a question list over it."""

    articles: tuple[Article, ...]
    questions: tuple[Question, ...]
    counts: Counts


# -- reading the file ---------------------------------------------------------------------------------


def read_squad(path: str | Path) -> dict:
    """The parsed file, or EvalSetError saying how to get it (missing) or what is wrong (not SQuAD JSON)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise EvalSetError(f"Cannot read the SQuAD file {path} ({e.strerror or e}): {GET_IT}.") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvalSetError(f"{path} is not valid JSON ({e}); qa eval --squad takes a SQuAD-format file: {GET_IT}.") from None
    check_format(data, path.name)
    return data


def _fail(where: str, what: str) -> None:
    raise EvalSetError(f"{where} is not in SQuAD format: {what} (expected {{\"data\": [{{\"paragraphs\": "
                       f"[{{\"context\", \"qas\": [{{\"id\", \"question\", \"answers\": [{{\"text\", \"answer_start\"}}]}}]}}]}}]}}).")


def check_format(data: object, where: str = "the file") -> None:
    """EvalSetError naming the first place where ``data`` departs from SQuAD's shape."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list) or not data["data"]:
        _fail(where, 'no non-empty "data" list at the top')
    for i, art in enumerate(data["data"]):
        if not isinstance(art, dict) or not isinstance(art.get("paragraphs"), list):
            _fail(where, f'article {i} has no "paragraphs" list')
        for j, para in enumerate(art["paragraphs"]):
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) or not isinstance(para.get("qas"), list):
                _fail(where, f'article {i}, paragraph {j} needs a "context" string and a "qas" list')
            for qa in para["qas"]:
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or not isinstance(qa.get("answers", []), list):
                    _fail(where, f'article {i}, paragraph {j}: each of "qas" needs a "question" string and an "answers" list')
                for a in qa.get("answers", []):
                    if not isinstance(a, dict) or not isinstance(a.get("text"), str) or type(a.get("answer_start")) is not int:
                        _fail(where, f'article {i}, paragraph {j}, question {qa.get("id")!r}: each answer needs '
                                     f'"text" (a string) and "answer_start" (an integer)')


# -- the corpus text, as the loader reads it ----------------------------------------------------------


def as_loaded(text: str, first: bool) -> tuple[str, list[int]]:
    """``text`` as the loader will read it back, and where each of its offsets (0..len) lands there.

    The loader reads ``.txt`` as ``open(path, encoding="utf-8-sig").read()``: universal newlines (CR LF and
    a lone CR become LF) and a leading byte-order mark dropped (``first``: this text starts the file).
    A NUL would make the file look binary and a lone surrogate cannot be written as UTF-8: each becomes one
    character of the same length (a space, U+FFFD), so no offset moves.
    """
    out: list[str] = []
    where: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        where.append(len(out))
        if i == 0 and first and c == "\ufeff":
            i += 1
            continue
        if c == "\r":
            out.append("\n")
            if i + 1 < n and text[i + 1] == "\n":
                where.append(len(out) - 1)  # the LF of CR LF: folded into the one LF
                i += 1
        elif c == "\x00":
            out.append(" ")
        elif "\ud800" <= c <= "\udfff":
            out.append("\ufffd")
        else:
            out.append(c)
        i += 1
    where.append(len(out))
    return "".join(out), where


def slug(value: object, fallback: str = "article") -> str:
    """ASCII letters, digits, '-' and '_' only, at most 60 characters."""
    s = unicodedata.normalize("NFKD", str(value or "")).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-_")[:60].strip("-_")
    return s or fallback


def _span(para: str, text: str, start: int) -> tuple[int, int, bool] | None:
    """(start, end, repaired) of the answer ``text`` said to begin at ``start`` of ``para``, or None."""
    if 0 <= start and para[start : start + len(text)] == text and text.strip():
        return start, start + len(text), False
    core = text.strip()
    if not core:
        return None
    expect = start + len(text) - len(text.lstrip())
    lo = max(0, min(start, expect) - REPAIR_WINDOW)
    hi = max(start, expect) + REPAIR_WINDOW + len(core)
    found, at = [], para.find(core, lo)
    while 0 <= at and at + len(core) <= hi:
        found.append(at)
        at = para.find(core, at + 1)
    if not found:
        return None
    best = min(found, key=lambda a: (abs(a - expect), a))
    return best, best + len(core), True


def parse(data: dict) -> SquadSet:
    """The articles (one document each) and the answerable questions, with exact answer offsets."""
    check_format(data)
    arts = data["data"]
    width = max(3, len(str(len(arts) - 1)))
    articles: list[Article] = []
    questions: list[Question] = []
    c = {f.name: 0 for f in dataclasses.fields(Counts)}
    seen_ids: set[str] = set()
    for i, art in enumerate(arts):
        paras = art["paragraphs"]
        key = next((p.get("document_id") for p in paras if p.get("document_id") not in (None, "")), None)
        name = f"{i:0{width}d}_{slug(key if key is not None else art.get('title'))}.txt"
        parts: list[str] = []
        offset = 0
        pending: list[Question] = []
        for j, para in enumerate(paras):
            context = para["context"]
            loaded, where = as_loaded(context, first=j == 0)
            if j:
                offset += 2  # the "\n\n" that joins it to the previous paragraph
            for qa in para["qas"]:
                c["questions_in_file"] += 1
                if qa.get("is_impossible"):
                    c["impossible"] += 1
                    continue
                spans: list[tuple[int, int]] = []
                for a in qa.get("answers", []):
                    c["answers"] += 1
                    got = _span(context, a["text"], a["answer_start"])
                    if got is None:
                        c["answers_mismatched"] += 1
                        continue
                    s, e, repaired = got
                    span = (offset + where[s], offset + where[e])
                    if span in spans:
                        c["answers_duplicate"] += 1
                        continue
                    c["answers_repaired"] += repaired
                    spans.append(span)
                if not spans or not qa["question"].strip():
                    c["no_valid_answer"] += 1
                    continue
                qid = str(qa.get("id", "")).strip() or f"{i}-{j}-{len(pending)}"
                if qid in seen_ids:
                    c["duplicate_ids"] += 1
                    n = 2
                    while f"{qid}~{n}" in seen_ids:
                        n += 1
                    qid = f"{qid}~{n}"
                seen_ids.add(qid)
                pending.append(Question(qid, " ".join(qa["question"].split()), tuple(Target(name, "", s, e) for s, e in spans), SPLIT))
            parts.append(loaded)
            offset += len(loaded)
        text = "\n\n".join(parts)
        if not text.strip():
            c["no_valid_answer"] += len(pending)
            continue
        articles.append(Article(name, text))
        for q in pending:  # the evidence is the text the loader reads at those offsets
            targets = tuple(dataclasses.replace(t, evidence=text[t.start : t.end]) for t in q.targets)
            questions.append(dataclasses.replace(q, targets=targets))
    return SquadSet(tuple(articles), tuple(questions), Counts(**c))


# -- the cache folder ---------------------------------------------------------------------------------


def cache_folder(sha256: str) -> Path:
    """``<cache root>/squad/<first 12 hex of the file's sha256>``: the cache root of the ONNX exports."""
    from ..models.embed_onnx import cache_root

    return cache_root() / "squad" / sha256[:12]


def write_corpus(articles: Sequence[Article], folder: Path) -> Path:
    """One UTF-8 ``.txt`` per article (rewritten only when it differs, so a build stays current); other .txt removed."""
    folder.mkdir(parents=True, exist_ok=True)
    names = set()
    for a in articles:
        path = folder / a.name
        names.add(a.name)
        data = a.text.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                f.write(a.text)
            tmp.replace(path)
    for old in folder.glob("*.txt"):
        if old.name not in names:
            old.unlink()
    return folder

