"""Measure the engine on a public SQuAD-format question set (``qa eval --squad FILE``), beside a BM25 sentence baseline.

The set is COVID-QA (github deepset-ai/COVID-QA, ``data/question-answering/200423_covidQA.json``,
Apache-2.0) or any file in SQuAD's format: ``{"data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}``. Each article
becomes one ``.txt`` document (its paragraphs joined by a blank line, every ``answer_start`` shifted to
match) in a cache folder keyed by the file's sha256, ``<cache>/squad/<first 12 hex>/corpus``; the index
is built beside it in ``index/`` (``--index-dir`` puts it elsewhere). Nothing of the data set goes into
the repository.

Each answer becomes a ``Target`` at exactly the offsets its ``answer_start`` gives, checked
character for character against the text the loader reads back. Not by searching for the answer
text: a short answer ("2", "bats") occurs many times, and its first occurrence is often not the one
meant. Some published offsets are a few characters off (COVID-QA: 234 of 1,380 answers, most
with a leading space in the answer text that ``answer_start`` skips, or 2-3 characters early);
an answer whose text, stripped of surrounding white space, stands within ``REPAIR_WINDOW``
characters of its ``answer_start`` is taken there and counted as *repaired*; any other mismatch
is skipped and counted. Impossible questions (SQuAD 2.0) are skipped; duplicate answers
(the same span) are kept once.

The baseline ranks every sentence of the corpus (the project's own sentence splitter) by BM25 with the
project's own tokeniser. Its R@k counts a top-k *sentence* that overlaps an answer span; ours counts a
top-k *passage* covering at least half of one (``evalset.hit_target``). "lead" is the same measure for
both: the first sentence shown overlaps an answer span.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import IndexSettings
from ..errors import EvalSetError
from ..index.build_dirs import sha256_file
from ..records import Document
from .evalset import Question, Target, span_overlap

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


@dataclass(frozen=True)
class Sentence:
    source: str
    start: int
    end: int


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


# -- the baseline: BM25 over sentences ---------------------------------------------------------------


class SentenceBM25:
    """Every sentence of the documents (the chunker's splitter), ranked by BM25 with the project's tokeniser."""

    def __init__(self, docs: Sequence[Document], settings: IndexSettings = IndexSettings()) -> None:
        import logging

        import bm25s

        from ..ingest.chunk import clean, paragraphs, split_sentences
        from ..ingest.lexical import tokenize

        self.settings = settings
        self.sentences: list[Sentence] = []
        texts: list[str] = []
        for d in docs:
            for (ps, pe), _ in paragraphs(d):
                for a, b in split_sentences(d.text, ps, pe):
                    self.sentences.append(Sentence(d.source, a, b))
                    texts.append(clean(d.text[a:b]))
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokenize(texts, settings), show_progress=False)

    def rank(self, question: str, k: int = 5) -> list[Sentence]:
        """The ``k`` best sentences with a score above zero, best first (ties: document order)."""
        from ..ingest.lexical import query_terms

        words = [w for w in query_terms(question, self.settings) if w in self.bm25.vocab_dict]
        if not words:
            return []
        scores = np.asarray(self.bm25.get_scores(words))
        nz = np.flatnonzero(scores > 0)
        order = nz[np.lexsort((nz, -scores[nz]))][:k]
        return [self.sentences[i] for i in order]


@dataclass(frozen=True)
class BaselineResult:
    qid: str
    ranked: tuple[Sentence, ...]
    hits: tuple[bool, ...]  # per ranked sentence: overlaps an answer span
    ms: float


def overlaps(s: Sentence, targets: Sequence[Target]) -> bool:
    return any(s.source == t.source and span_overlap((s.start, s.end), (t.start, t.end)) > 0 for t in targets)


def run_baseline(index: SentenceBM25, questions: Sequence[Question], k: int = 5) -> list[BaselineResult]:
    out = []
    for q in questions:
        t0 = time.perf_counter()
        ranked = index.rank(q.question, k)
        ms = (time.perf_counter() - t0) * 1e3
        out.append(BaselineResult(q.id, tuple(ranked), tuple(overlaps(s, q.targets) for s in ranked), ms))
    return out


# -- figures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    system: str
    unit: str  # what R@k ranks: passages or sentences
    questions: int
    r1: float
    r5: float | None
    lead: float
    short_marked: int | None = None
    short_inside: float | None = None
    refused: int | None = None
    p50_ms: float = float("nan")


def engine_figures(mode: str, results: Sequence) -> Figures:
    """R@1/R@5 by the passage hit rule, lead, short answers, refusals and p50 latency of ``evals.Result``s."""
    n = len(results)
    firsts = [r.first_hit for r in results]
    marked = [r.short_hit for r in results if r.short_hit is not None]
    return Figures(
        f"ours ({mode})", "passages", n,
        sum(f == 1 for f in firsts) / n if n else float("nan"),
        sum(f is not None and f <= 5 for f in firsts) / n if n else float("nan"),
        float(np.mean([r.answer_hit for r in results])) if n else float("nan"),
        len(marked), float(np.mean(marked)) if marked else None,
        sum(r.abstained for r in results),
        float(np.percentile([r.ms for r in results], 50)) if n else float("nan"),
    )


def baseline_figures(results: Sequence[BaselineResult]) -> Figures:
    n = len(results)
    return Figures(
        "BM25 over sentences", "sentences", n,
        float(np.mean([any(r.hits[:1]) for r in results])) if n else float("nan"),
        float(np.mean([any(r.hits[:5]) for r in results])) if n else float("nan"),
        float(np.mean([any(r.hits[:1]) for r in results])) if n else float("nan"),
        p50_ms=float(np.percentile([r.ms for r in results], 50)) if n else float("nan"),
    )


def _f(x: float | None, nd: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:.{nd}f}"


def table(rows: Sequence[Figures]) -> list[str]:
    out = ["| system | R@k ranks | questions | R@1 | R@5 | lead | short answers marked | short inside answer | refused | p50 ms |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for f in rows:
        out.append(f"| {f.system} | {f.unit} | {f.questions} | {_f(f.r1)} | {_f(f.r5)} | {_f(f.lead)} | "
                   f"{'-' if f.short_marked is None else f.short_marked} | {_f(f.short_inside)} | "
                   f"{'-' if f.refused is None else f.refused} | {_f(f.p50_ms, 1)} |")
    return out


# -- the command --------------------------------------------------------------------------------------


def command_line(args) -> str:
    parts = ["python", "-m", "qa", "eval", "--squad", str(args.squad)]
    if getattr(args, "squad_limit", None) is not None:
        parts += ["--squad-limit", str(args.squad_limit)]
    for opt in ("index_dir", "mode", "k", "model", "rerank", "sentences", "candidates", "run"):
        v = getattr(args, opt, None)
        default = {"mode": "hybrid", "k": 10}.get(opt)
        if v is not None and v != default:
            parts += [f"--{opt.replace('_', '-')}", str(v)]
    return shlex.join(parts)


def open_engine(args, corpus: Path, index_dir: Path):
    """The engine over the SQuAD corpus, building its index if needed, with progress and warnings on stderr."""
    from ..engine import Engine
    from ..options import settings_from_args, storage_from_args
    from ..progress import printer

    return Engine(corpus=corpus, index_dir=index_dir, model=args.model, settings=settings_from_args(args),
                  switch_corpus=True, storage=storage_from_args(args), progress=printer(),
                  warn=lambda s: print(f"warning: {s}", file=sys.stderr))


def main(args, engine=None) -> int:
    """``qa eval --squad FILE``: our engine and the BM25 sentence baseline on the file's questions."""
    from ..config import MODES
    from ..ingest.load import load_folder
    from .evals import run

    t_start = time.perf_counter()
    data = read_squad(args.squad)
    sha = sha256_file(args.squad)
    squad = parse(data)
    questions = list(squad.questions)
    limit = getattr(args, "squad_limit", None)
    if limit is not None:
        if limit < 1:
            raise EvalSetError(f"--squad-limit must be at least 1, got {limit}.")
        questions = questions[:limit]
    if not questions:
        raise EvalSetError(f"{args.squad} holds no answerable question whose answer_start matches its text.")
    home = cache_folder(sha)
    corpus = write_corpus(squad.articles, home / "corpus")
    index_dir = Path(args.index_dir) if args.index_dir else home / "index"
    print(f"{Path(args.squad).name}: {len(squad.articles)} articles, {len(questions)} questions -> {corpus}", file=sys.stderr)

    t0 = time.perf_counter()
    engine = engine or open_engine(args, corpus, index_dir)
    t_build = time.perf_counter() - t0
    by_text = {a.name: a.text for a in squad.articles}
    lost = [name for name, text in by_text.items() if name not in engine.index.docs or engine.index.docs[name].text != text]
    if lost:
        print(f"warning: {len(lost)} article(s) not indexed as written (e.g. {lost[0]}); their questions are left out",
              file=sys.stderr)
        questions = [q for q in questions if not any(t.source in lost for t in q.targets)]
        if not questions:
            raise EvalSetError("No question is left whose article was indexed as written.")

    modes = list(MODES) if args.mode == "all" else [args.mode]
    t0 = time.perf_counter()
    results = run(engine, questions, modes, k=args.k, progress=not args.no_progress, ceiling=0)
    t_ask = time.perf_counter() - t0

    t0 = time.perf_counter()
    docs, _ = load_folder(corpus)
    baseline = run_baseline(SentenceBM25(docs), questions, k=5)
    t_base = time.perf_counter() - t0

    rows = [engine_figures(m, results[m]) for m in modes] + [baseline_figures(baseline)]
    c = squad.counts
    lines = [
        f"## {Path(args.squad).name} (sha256 {sha[:12]}): {len(questions)} questions over {len(squad.articles)} articles",
        "",
        *table(rows),
        "",
        "R@k: ours, a top-k passage covers at least half of an answer span; the baseline, a top-k sentence overlaps one.",
        "lead is the same measure for both: the first sentence shown overlaps an answer span.",
        "short answers: how many questions got a marked short answer, and the share of those inside an answer span.",
        "",
        f"- command: `{command_line(args)}`",
        f"- corpus: {corpus}",
        f"- index: {engine.store.where}",
        f"- questions in file {c.questions_in_file}: impossible {c.impossible}, no answer at its offset {c.no_valid_answer}"
        + (f", after --squad-limit {len(questions)}" if limit is not None else f", asked {len(questions)}"),
        f"- answers {c.answers}: {c.answers_repaired} offsets repaired (within {REPAIR_WINDOW} characters), "
        f"{c.answers_mismatched} not found at their offset, {c.answers_duplicate} duplicates dropped",
        f"- time: index open/build {t_build:.1f} s, our questions {t_ask:.1f} s ({len(questions) * len(modes)} asked), "
        f"baseline {t_base:.1f} s, total {time.perf_counter() - t_start:.1f} s",
    ]
    print("\n".join(lines))
    if getattr(args, "run", None):
        from . import report

        report.write_run(args.run, results)
    return 0
