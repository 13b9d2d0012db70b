"""Command line: ``python -m qa index|ask|eval|bench``. Errors print one line and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from .search.answer import best_sentences
from .config import MAX_K, MODES
from .errors import QAError
from .options import add_answer_options, add_common, add_ray_option, engine_from_args, workers_from_args

EXIT_ERROR = 2

MEASURE_COMMANDS = {
    "eval": "measure retrieval on a question -> source set (qa eval --help)",
    "bench": "measure speed and memory (qa bench --help)",
}
"""Commands of the measuring wing (qa.measure): parsed and run there, imported only when asked for."""


def cmd_index(args) -> int:
    t0 = time.perf_counter()
    workers = workers_from_args(args)
    try:
        engine = engine_from_args(args, build="force" if args.force else "auto", workers=workers)
    finally:
        if workers is not None:
            workers.close()
    st = engine.status()
    c = st["counts"]
    seconds = time.perf_counter() - t0
    print(
        f"Index ready in {engine.index.path} ({seconds:.1f} s, {c['documents'] / seconds:.2f} documents/s): "
        f"{c['documents']} documents, "
        f"{c['chunks']} chunks, {c['sentences']} sentences, {st['dense_index']['type']} dense index; "
        f"{len(st['skipped'])} file(s) skipped."
    )
    return 0


def format_answer(answer) -> str:
    lines = [f"Q: {answer.question}"] + ([f"   (searched as: {answer.searched})"] if answer.searched else []) + [""]
    if answer.abstained:
        lines += [answer.message, ""]
    else:
        short = answer.short_text()
        if short:
            lines += [f"A: {' '.join(short.split())} [{answer.lead[0] + 1}]", ""]
        for n, (i, text) in enumerate(best_sentences(answer)):
            if n == 0 and short:
                text = answer.lead_marked("**")
            lines.append(f"  “{' '.join(text.split())}” [{i}]")
        lines += ["", f"Confidence: {answer.level}", ""]
    for i, p in enumerate(answer.passages, 1):
        rank = p.scores.rank if p.scores is not None else None
        moved = f" (ranked {rank})" if rank is not None and rank != i else ""  # the lead's passage comes first
        lines.append(f"[{i}] {p.citation}  score {p.score:.4f}{moved}")
        body = p.text
        for a, b in sorted(p.highlights, reverse=True):
            a, b = a - p.start, b - p.start
            body = body[:a] + ">>" + body[a:b] + "<<" + body[b:]
        lines += ["    " + line for line in body.strip().splitlines() if line.strip()]
        lines.append("")
    return "\n".join(lines)


def cmd_ask(args) -> int:
    engine = engine_from_args(args)
    answer = engine.ask(args.question, k=args.k, mode=args.mode, sources=args.source)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def cmd_feedback(args) -> int:
    """Candidate questions for a person to review (each has "review": true and no split) before they join the eval set."""
    from .page import feedback

    lines = [json.dumps(c, ensure_ascii=False) for c in feedback.export_candidates(args.feedback)]
    text = "\n".join(lines) + ("\n" if lines else "")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"{len(lines)} candidate question(s) written to {args.out}; review them before adding to evals/questions.jsonl",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="qa", description="Extractive Q&A over a folder of documents, with citations.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or refresh the index of a folder")
    p.add_argument("folder", nargs="?", help="documents folder (default: $QA_CORPUS or seeds/)")
    p.add_argument("--force", action="store_true", help="rebuild even if the index is fresh")
    p.add_argument("--chunk-tokens", type=int, help="chunk body size in word pieces")
    p.add_argument("--overlap-tokens", type=int, help="overlap between chunks in word pieces")
    add_ray_option(p)
    add_common(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5, help=f"number of passages (1-{MAX_K}, or up to --candidates; default 5)")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--source", nargs="+", metavar="FILE", help="only these documents (file names as indexed)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--corpus", help="documents folder (default: $QA_CORPUS or seeds/)")
    add_answer_options(p)
    add_common(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("feedback", help="turn the page's saved verdicts into candidate eval questions")
    p.add_argument("action", choices=("export",), help="export: print candidates as JSON lines (evals/questions.jsonl format)")
    p.add_argument("--feedback", help="verdicts file (default: $QA_FEEDBACK or feedback/feedback.jsonl)")
    p.add_argument("--out", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_feedback)

    for name, help_text in MEASURE_COMMANDS.items():
        # Their options are parsed by qa.measure.cli (``--help`` included), so asking never imports that wing.
        sub.add_parser(name, help=help_text, add_help=False).set_defaults(func=None)
    return ap


def run_measure(command: str, argv: list[str]) -> int:
    try:
        from .measure import cli as measure_cli
    except ImportError as e:
        raise QAError(
            f"`qa {command}` needs the measuring extra ({e.name or e} is missing). Run `make install` "
            "or `pip install -e '.[measure]'`."
        ) from None
    return measure_cli.main(command, argv)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args, extra = ap.parse_known_args(argv)
    if extra and args.command not in MEASURE_COMMANDS:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "sentence_transformers", "bm25s", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command in MEASURE_COMMANDS:
            return run_measure(args.command, extra)
        return args.func(args)
    except (QAError, ValueError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # not foreseen: still one line; -v shows the traceback
        if args.verbose:
            raise
        print(f"error: {e.__class__.__name__}: {_one_line(e)} (run with -v for the details)", file=sys.stderr)
        return 1


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
