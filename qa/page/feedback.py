"""Helpful / not helpful verdicts on answers, appended to a JSON Lines file.

One line per verdict: the question, the settings it was asked with, the
verdict (with, for "not helpful", the reason chosen: wrong source, not
answered, partly answered, and any comment), the index build, the cited spans
(source, start, end, score, highlights) and the answer's lead sentence, so a
verdict can become an eval case: :func:`export_candidates` turns them into
candidate questions in the ``evals/questions.jsonl`` format for a person to
review. The file is only ever appended to,
under a lock shared by threads and processes; earlier lines are never
rewritten. The path comes from the ``path`` argument, then ``QA_FEEDBACK``,
then ``feedback/feedback.jsonl`` in the project.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..config import PROJECT_ROOT

VERDICTS = ("helpful", "not helpful")
REASONS = {"wrong source": "Wrong source", "not answered": "Did not answer the question",
           "partly answered": "Only partly answered"}
"""Why an answer was not helpful: the value saved, and the words the page offers."""

_THREAD_LOCK = threading.Lock()


def feedback_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("QA_FEEDBACK") or PROJECT_ROOT / "feedback" / "feedback.jsonl")


def check_verdict(verdict: str) -> str:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(repr(v) for v in VERDICTS)}, got {verdict!r}")
    return verdict


def entry(answer: dict, verdict: str, k: int | None = None, sources: list[str] | None = None,
          reason: str | None = None, comment: str = "", build: str | None = None, lead=None) -> dict:
    """The line to write for ``answer`` (an ``Answer.to_dict()``) marked ``verdict``.

    ``lead`` is the answer's lead sentence(s) as ``[source, start, end]``, the spans the reply quoted first.
    """
    if reason is not None and reason not in REASONS:
        raise ValueError(f"reason must be one of {', '.join(repr(r) for r in REASONS)}, got {reason!r}")
    texts = {}
    for p in answer.get("passages", []):
        texts.setdefault(p["source"], []).append((p["start"], p.get("text", "")))
    quoted = []
    for source, a, b in lead or []:
        for start, text in texts.get(source, []):
            if start <= a and b <= start + len(text):
                quoted.append({"source": source, "start": a, "end": b, "text": text[a - start : b - start]})
                break
    line = {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "question": answer["question"],
        "verdict": check_verdict(verdict),
        "abstained": bool(answer.get("abstained")),
        "mode": answer.get("mode"),
        "k": k,
        "sources": list(sources or []),
        "passages": [
            {
                "source": p["source"],
                "start": p["start"],
                "end": p["end"],
                "score": p["score"],
                "highlights": [[h["start"], h["end"]] for h in p.get("highlights", [])],
            }
            for p in answer.get("passages", [])
        ],
    }
    if reason:
        line["reason"] = reason
    if comment and comment.strip():
        line["comment"] = " ".join(comment.split())[:1000]
    if build:
        line["build"] = build
    if quoted:
        line["lead"] = quoted
    return line


def append(path: str | os.PathLike | None, record: dict) -> Path:
    """Append ``record`` as one line to the feedback file (created with its folder if missing)."""
    from filelock import FileLock

    target = feedback_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    with _THREAD_LOCK, FileLock(str(target) + ".lock"):
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn line from a crash stays alone on its line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    return target


def record(path: str | os.PathLike | None, answer: dict, verdict: str, k: int | None = None,
           sources: list[str] | None = None, reason: str | None = None, comment: str = "",
           build: str | None = None, lead=None) -> dict:
    """Write one verdict on ``answer`` and return the line written."""
    line = entry(answer, verdict, k, sources, reason, comment, build, lead)
    append(path, line)
    return line


def read(path: str | os.PathLike | None = None) -> Iterator[dict]:
    """Every verdict in the file, oldest first; a torn last line (a crash mid-write) is skipped."""
    target = feedback_path(path)
    if not target.exists():
        return
    with open(target, encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def export_candidates(feedback_path: str | os.PathLike | None = None) -> list[dict]:
    """Saved verdicts as candidate eval questions in the ``evals/questions.jsonl`` format, for a person to review.

    One candidate per distinct question (the latest verdict wins): ``id`` (``fb-`` and a hash of the
    question), ``question``, ``source`` and ``evidence`` (the cited sentence: the answer's lead sentence, else
    the first highlighted span), ``split`` "" (a person assigns it) and ``"review": true``, with the verdict,
    reason and comment that produced it. Verdicts that cite nothing (a refusal with no passage) give a candidate
    with empty source and evidence, still worth a look as an out-of-scope question.
    """
    import hashlib

    latest: dict[str, dict] = {}
    for line in read(feedback_path):
        q = line.get("question") if isinstance(line, dict) else None
        if isinstance(q, str) and q.strip() and line.get("verdict") in VERDICTS:
            latest[" ".join(q.split())] = line
    out = []
    for q, line in latest.items():
        source, evidence = "", ""
        if line.get("lead"):
            source, evidence = line["lead"][0]["source"], line["lead"][0].get("text", "")
        elif line.get("passages"):
            p = line["passages"][0]
            source = p.get("source", "")
        cand = {
            "id": "fb-" + hashlib.sha256(q.encode("utf-8")).hexdigest()[:10],
            "question": q,
            "source": source,
            "evidence": " ".join(evidence.split()),
            "split": "",
            "review": True,
            "verdict": line["verdict"],
        }
        for key in ("reason", "comment", "time", "build"):
            if line.get(key):
                cand[key] = line[key]
        out.append(cand)
    return out
