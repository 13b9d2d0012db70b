"""Command line: ``python -m qa index|ask|eval|bench``. Errors print one line and exit non-zero."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time

from . import config
from .config import MODES, ChunkSettings
from .errors import QAError

EXIT_ERROR = 2


def _progress_printer(stream=None):
    """A tqdm bar per build stage, on stderr so --json output stays clean."""
    from tqdm import tqdm

    stream = stream or sys.stderr  # the stderr of now, not of import time

    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars.clear()
            bars[stage] = tqdm(total=total, desc=stage, file=stream, leave=False, disable=None)
        bar = bars[stage]
        bar.total = total
        bar.n = done
        bar.refresh()
        if stage == "done":
            bar.close()

    return progress


def _engine(args, build: str = "auto"):
    from .engine import Engine

    settings = ChunkSettings(
        **{k: v for k, v in (("max_tokens", getattr(args, "chunk_tokens", None)), ("overlap_tokens", getattr(args, "overlap_tokens", None))) if v is not None}
    )
    return Engine(
        corpus=getattr(args, "folder", None) or getattr(args, "corpus", None),
        index_dir=args.index_dir,
        model=args.model,
        settings=settings,
        build=build,
        progress=_progress_printer(),
        warn=lambda s: print(f"warning: {s}", file=sys.stderr),
    )


def cmd_index(args) -> int:
    t0 = time.perf_counter()
    engine = _engine(args, build="force" if args.force else "auto")
    st = engine.status()
    c = st["counts"]
    print(
        f"Index ready in {engine.index.path} ({time.perf_counter() - t0:.1f} s): {c['documents']} documents, "
        f"{c['chunks']} chunks, {c['sentences']} sentences, {st['dense_index']['type']} dense index; "
        f"{len(st['skipped'])} file(s) skipped."
    )
    return 0


def format_answer(answer) -> str:
    from .answer import best_sentences

    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines += [answer.message, ""]
    else:
        for i, text in best_sentences(answer):
            lines.append(f"  “{' '.join(text.split())}” [{i}]")
        lines.append("")
    for i, p in enumerate(answer.passages, 1):
        lines.append(f"[{i}] {p.citation}  score {p.score:.4f}")
        body = p.text
        for a, b in sorted(p.highlights, reverse=True):
            a, b = a - p.start, b - p.start
            body = body[:a] + ">>" + body[a:b] + "<<" + body[b:]
        lines += ["    " + line for line in body.strip().splitlines() if line.strip()]
        lines.append("")
    return "\n".join(lines)


def cmd_ask(args) -> int:
    engine = _engine(args)
    answer = engine.ask(args.question, k=args.k, mode=args.mode, sources=args.source)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or index/)")
    p.add_argument("--model", help=f"sentence-transformers name or folder (default: $QA_MODEL or {config.DEFAULT_MODEL})")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="qa", description="Extractive Q&A over a folder of documents, with citations.")
    ap.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or refresh the index of a folder")
    p.add_argument("folder", nargs="?", help="documents folder (default: $QA_CORPUS or seeds/)")
    p.add_argument("--force", action="store_true", help="rebuild even if the index is fresh")
    p.add_argument("--chunk-tokens", type=int, help="chunk body size in word pieces")
    p.add_argument("--overlap-tokens", type=int, help="overlap between chunks in word pieces")
    _common(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with cited passages")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5, help="number of passages (1-50, default 5)")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--source", nargs="+", metavar="FILE", help="only these documents (file names as indexed)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--corpus", help="documents folder (default: $QA_CORPUS or seeds/)")
    _common(p)
    p.set_defaults(func=cmd_ask)

    # Subcommands whose modules define add_arguments(parser) and main(args) -> int.
    for name, module, help_text in (
        ("eval", "evals", "measure retrieval on a question -> source set"),
        ("bench", "bench", "measure speed and memory"),
    ):
        mod = importlib.import_module(f".{module}", __package__)
        p = sub.add_parser(name, help=help_text)
        mod.add_arguments(p)
        _common(p)
        p.set_defaults(func=mod.main)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss.loader", "sentence_transformers", "bm25s", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
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
