"""Helpful / not helpful verdicts on answers, appended to a JSON Lines file.

One line per verdict: the question, the settings it was asked with, the
verdict and the cited spans (source, start, end, score, highlights), so an
unhelpful answer can become an eval case. The file is only ever appended to,
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

from .config import PROJECT_ROOT

VERDICTS = ("helpful", "not helpful")

_THREAD_LOCK = threading.Lock()


def feedback_path(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("QA_FEEDBACK") or PROJECT_ROOT / "feedback" / "feedback.jsonl")


def check_verdict(verdict: str) -> str:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(repr(v) for v in VERDICTS)}, got {verdict!r}")
    return verdict


def entry(answer: dict, verdict: str, k: int | None = None, sources: list[str] | None = None) -> dict:
    """The line to write for ``answer`` (an ``Answer.to_dict()``) marked ``verdict``."""
    return {
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
           sources: list[str] | None = None) -> dict:
    """Write one verdict on ``answer`` and return the line written."""
    line = entry(answer, verdict, k, sources)
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
