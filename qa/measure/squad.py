"""Measure the engine on a public SQuAD-format question set (``qa eval --squad FILE``), beside a BM25 sentence baseline.

The set is COVID-QA (github deepset-ai/COVID-QA, ``data/question-answering/200423_covidQA.json``,
Apache-2.0) or any file in SQuAD's format: ``{"data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}``. Each article
becomes one ``.txt`` document (its paragraphs joined by a blank line, every ``answer_start`` shifted to
match) in a cache folder keyed by the file's sha256, ``<cache>/squad/<first 12 hex>/corpus``; the index
is built beside it in ``index/`` (``--index-dir`` puts it elsewhere). Nothing of the data set goes into
the repository.

The file's reading and the offsets of its answers are in squad_set.py, the baseline in sentence_bm25.py; this
module holds the figures, the table and the command.

The baseline ranks every sentence of the corpus (the project's own sentence splitter) by BM25 with the
project's own tokeniser. Its R@k counts a top-k *sentence* that overlaps an answer span; ours counts a
top-k *passage* covering at least half of one (``evalset.hit_target``). "lead" is the same measure for
both: the first sentence shown overlaps an answer span.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EvalSetError
from ..index.build_dirs import sha256_file
from .sentence_bm25 import BaselineResult, SentenceBM25, run_baseline
from .squad_set import REPAIR_WINDOW, cache_folder, parse, read_squad, write_corpus


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
