"""Command-line options shared by every ``qa`` command, and the Engine they describe."""

from __future__ import annotations

import argparse
import sys

from . import config
from .config import ChunkSettings, Settings


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or index/)")
    p.add_argument("--model", help=f"sentence-transformers name or folder (default: $QA_MODEL or {config.DEFAULT_MODEL})")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, with the chunk sizes given on the command line."""
    given = {
        k: v
        for k, v in (("max_tokens", getattr(args, "chunk_tokens", None)), ("overlap_tokens", getattr(args, "overlap_tokens", None)))
        if v is not None
    }
    return Settings(chunk=ChunkSettings(**given))


def engine_from_args(args: argparse.Namespace, build: str = "auto"):
    """The Engine the options name, with progress and skipped-file warnings on stderr."""
    from .engine import Engine
    from .progress import printer

    return Engine(
        corpus=getattr(args, "folder", None) or getattr(args, "corpus", None),
        index_dir=args.index_dir,
        model=args.model,
        settings=settings_from_args(args),
        build=build,
        progress=printer(),
        warn=lambda s: print(f"warning: {s}", file=sys.stderr),
    )
