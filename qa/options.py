"""Command-line options shared by every ``qa`` command, and the Engine they describe."""

from __future__ import annotations

import argparse
import sys

import dataclasses

from . import config
from .config import (PASSAGE_ORDERS, RERANKERS, SENTENCE_SCORERS, STORES, AnswerSettings, ChunkSettings, RerankSettings,
                     RetrievalSettings, Settings, StoreSettings)


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or index/)")
    p.add_argument("--model", help=f"sentence-transformers name or folder (default: $QA_MODEL or {config.DEFAULT_MODEL})")
    p.add_argument("--late-codec", choices=config.LATE_CODECS,
                   help=f"how ColBERT token vectors are stored (default {config.IndexSettings().late_codec}; none: float16)")
    p.add_argument("--sentence-vectors", choices=list(config.SENTENCE_VECTORS),
                   help="how sentence vectors are made: " + "; ".join(f"{k}: {v}" for k, v in config.SENTENCE_VECTORS.items())
                   + f" (default {config.IndexSettings().sentence_vectors})")
    p.add_argument("--chunk-vectors", choices=list(config.CHUNK_VECTORS),
                   help="how chunk vectors are made: " + "; ".join(f"{k}: {v}" for k, v in config.CHUNK_VECTORS.items())
                   + f" (default {config.IndexSettings().chunk_vectors})")
    p.add_argument("--no-second-dense", action="store_true",
                   help="build without bge-small-en vectors (the fusion's fourth list): a faster build, lower recall")
    add_store_options(p)


def add_store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", choices=STORES, help="where the index is kept and searched: local files (default) or Milvus")
    p.add_argument("--milvus-uri", help="with --store milvus: a file for embedded Milvus Lite, or http://host:19530")


def storage_from_args(args: argparse.Namespace) -> StoreSettings:
    """The store the options name; a --milvus-uri alone means --store milvus."""
    uri = getattr(args, "milvus_uri", None) or ""
    kind = getattr(args, "store", None) or ("milvus" if uri else "local")
    if kind == "local" and uri:
        raise ValueError("--milvus-uri is for --store milvus; leave it out, or add --store milvus.")
    return StoreSettings(kind=kind, milvus_uri=uri)


def add_answer_options(p: argparse.ArgumentParser) -> None:
    d = RerankSettings()
    p.add_argument("--rerank", choices=RERANKERS, help=f"second stage over the first passages (default: {d.model})")
    p.add_argument("--sentences", choices=SENTENCE_SCORERS, help=f"who scores the sentences an answer quotes (default: {d.sentences})")
    p.add_argument("--sentence-passages", type=int,
                   help=f"passages whose sentences are scored, the lead chosen among them (default {d.sentence_passages})")
    p.add_argument("--rerank-depth", type=int, help=f"passages the reranker reads (default {d.depth})")
    p.add_argument("--rank-weight", type=float,
                   help=f"how much the first-stage rank breaks the reranker's near-ties; 0: its logits alone (default {d.rank_weight})")
    p.add_argument("--passage-order", choices=PASSAGE_ORDERS,
                   help="lead: the passage the lead sentence is from first, then the others it was chosen among; rerank: "
                   f"the reranker's order (default: {AnswerSettings().passage_order})")
    r = RetrievalSettings()
    p.add_argument("--candidates", type=int, help=f"depth of each first-stage list (default {r.candidates}); also the largest --k")
    p.add_argument("--sentence-weight", type=float, help="dense score of a chunk = max(chunk cosine, this x its best "
                   f"sentence's cosine) (default {r.sentence_weight})")
    p.add_argument("--no-spelling", action="store_true", help="search the question as typed (by default a word the documents "
                   "never use is put right to the nearest one they do)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, with the chunk sizes and the reranking given on the command line."""
    given = {
        k: v
        for k, v in (("max_tokens", getattr(args, "chunk_tokens", None)), ("overlap_tokens", getattr(args, "overlap_tokens", None)))
        if v is not None
    }
    rerank = {k: v for k, v in (("model", getattr(args, "rerank", None)), ("sentences", getattr(args, "sentences", None)),
                                ("depth", getattr(args, "rerank_depth", None)),
                                ("sentence_passages", getattr(args, "sentence_passages", None)),
                                ("rank_weight", getattr(args, "rank_weight", None))) if v is not None}
    retrieval = RetrievalSettings()
    if getattr(args, "candidates", None) is not None:  # 0 is refused by RetrievalSettings, not taken for "default"
        retrieval = dataclasses.replace(retrieval, candidates=args.candidates, max_k=max(retrieval.max_k, args.candidates))
    if getattr(args, "sentence_weight", None) is not None:
        retrieval = dataclasses.replace(retrieval, sentence_weight=args.sentence_weight)
    if getattr(args, "no_spelling", False):
        retrieval = dataclasses.replace(retrieval, spelling=False)
    index = config.IndexSettings()
    if getattr(args, "late_codec", None):
        index = dataclasses.replace(index, late_codec=args.late_codec)
    if getattr(args, "sentence_vectors", None):
        index = dataclasses.replace(index, sentence_vectors=args.sentence_vectors)
    if getattr(args, "chunk_vectors", None):
        index = dataclasses.replace(index, chunk_vectors=args.chunk_vectors)
    if getattr(args, "no_second_dense", False):
        index = dataclasses.replace(index, second_dense=False)
    answer = AnswerSettings()
    if getattr(args, "passage_order", None):
        answer = dataclasses.replace(answer, passage_order=args.passage_order)
    return Settings(chunk=ChunkSettings(**given), index=index, retrieval=retrieval,
                    rerank=dataclasses.replace(RerankSettings(), **rerank), answer=answer)


def add_ray_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", metavar="ADDRESS",
                   help="embed on a Ray cluster: auto (the cluster this machine is part of) or the head's HOST:6379")


def workers_from_args(args: argparse.Namespace):
    """Ray workers for --ray (they connect on the build's first batch), or None: this process."""
    if not getattr(args, "ray", None):
        return None
    from .config import RaySettings
    from .build.ray_workers import RayWorkers

    return RayWorkers(RaySettings(address=args.ray), config.model_name(args.model))


def engine_from_args(args: argparse.Namespace, build: str = "auto", workers=None):
    """The Engine the options name, with progress and skipped-file warnings on stderr."""
    from .engine import Engine
    from .progress import printer

    return Engine(
        corpus=getattr(args, "folder", None) or getattr(args, "corpus", None),
        index_dir=args.index_dir,
        model=args.model,
        settings=settings_from_args(args),
        build=build,
        switch_corpus=getattr(args, "command", None) == "index",
        preload=getattr(args, "command", None) != "index",
        storage=storage_from_args(args),
        workers=workers,
        progress=printer(),
        warn=lambda s: print(f"warning: {s}", file=sys.stderr),
    )
