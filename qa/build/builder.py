"""Build the index: load -> chunk -> embed -> FAISS + BM25 -> publish atomically.

Only text not already in the embedding cache is embedded, so a rebuild after
one document changes costs that document's new chunks and sentences (with pooled
sentence vectors, its chunks: qa/build/sentences.py).
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..models import late, second
from ..ingest import lexical
from ..index import build_dirs, late_files, record_files, store
from ..ingest.chunk import Prefixer, chunk_document
from ..config import ChunkSettings, IndexSettings, Settings
from ..models.embed import Embedder, resolve_model, text_key
from ..models.embed_cache import EmbeddingCache
from ..ingest.load import corpus_fingerprint, load_folder
from ..progress import Progress
from . import sentences

if TYPE_CHECKING:
    from .ray_workers import RayWorkers

log = logging.getLogger(__name__)


def dense_index(vectors: np.ndarray, settings: IndexSettings = IndexSettings()):
    """Exact inner-product index for small collections, IVF above ``settings.ann_threshold`` (vectors are unit length)."""
    import faiss

    n, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if n > settings.ann_threshold:
        nlist = max(1, int(settings.ivf_lists_per_sqrt_n * np.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = 1234  # k-means seed: the same vectors give the same index
        index.train(vectors)
        index.nprobe = max(1, round(nlist * settings.ivf_probe_fraction))
        index.add(vectors)
        index.make_direct_map()  # reconstruct(row) for rescoring, saved with the index
    else:
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(vectors)
    return index


def dense_index_type(index) -> str:
    import faiss

    return "ivf" if isinstance(index, faiss.IndexIVF) else "flat"


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return ""


def versions() -> dict[str, str]:
    pkgs = ("qa", "faiss-cpu", "bm25s", "sentence-transformers", "torch", "transformers", "blingfire", "pypdfium2")
    return {"python": platform.python_version(), **{pkg: _version(pkg) for pkg in pkgs}}


def settings_of(embedder: Embedder, settings: Settings | ChunkSettings) -> dict:
    """What, besides the documents, decides the index's contents: a change means rebuild."""
    settings = Settings.of(settings)
    sentence_mode = sentences.effective_mode(embedder, settings.index.sentence_vectors)
    return {
        "model": {"name": embedder.name, "path": resolve_model(embedder.name)},
        "chunking": settings.chunk.to_dict(),
        "sentence_splitter": f"blingfire {_version('blingfire')}",
        "bm25": settings.index.lexical(),
        "late_interaction": late_model() if settings.index.late_interaction else None,
        "late_codec": settings.index.late_codec if settings.index.late_interaction else None,
        "second_dense": second.describe() if settings.index.second_dense else None,
        "sentence_vectors": sentence_mode,
        "chunk_vectors": sentences.chunk_mode(sentence_mode, settings.index.chunk_vectors),
        "format": build_dirs.FORMAT_VERSION,
    }


def late_model() -> dict:
    """The ColBERT model the token vectors come from: name, package and file hashes (checked at load)."""
    from ..models.onnx_models import describe

    return describe(late.MODEL)


def late_interaction(chunks: list, codec_name: str, index_dir: Path, build: Path, previous: store.LoadedIndex | None,
                     encode, block_size: int, say, timings: dict | None = None) -> tuple:
    """Every chunk's ColBERT token rows, streamed into ``build`` as they are encoded: (index, chunks encoded, cache).

    A chunk whose text the previous build holds takes its rows from there (codes are copied when that build's
    codec is the one this build keeps, which it is whenever its kind is unchanged); then from the cache a
    killed build left (with its codec); the rest are encoded."""
    prev = None
    if previous is not None and previous.late is not None and previous.manifest.get("settings", {}).get("late_interaction") == late_model():
        prev = previous.late
    token_cache = late.TokenCache(index_dir / "cache")
    codec = None
    if codec_name != "none":
        codec = prev.codec if prev is not None and getattr(prev.codec, "name", None) == codec_name else token_cache.saved_codec(codec_name)
    if prev is not None and prev.codec is not None and prev.codec is not codec:
        prev = None  # another codec's codes: of no use here
    old = {} if prev is None else {c.text: i for i, c in reversed(list(enumerate(previous.chunks)))}

    def reuse(c):
        i = old.get(c.text)
        if i is None:
            return None
        sl = prev.chunk_rows(i)
        return prev.vectors[sl], prev.spans[sl].astype(np.int64) - previous.chunks[i].start + c.start  # int64: no wrap past 2**31

    tokens, encoded = late.build(chunks, reuse, progress=lambda d, t: say("late interaction vectors", d, t), cache=token_cache,
                                 encode=encode, block_size=block_size, codec_name=codec_name, codec=codec,
                                 sink=late_files.LateWriter(build), timings=timings)
    return tokens, encoded, token_cache


def second_dense(chunks: list, chunk_rows: list[list[int]], docs: dict, index_dir: Path, say,
                 encode=None) -> tuple[second.SecondVectors, int, EmbeddingCache, set[str]]:
    """bge-small-en vectors of every chunk and sentence row, each text as it stands in its document: (vectors, texts
    encoded, their cache, the cache keys this build uses). Texts the cache holds (an earlier build's, or a killed
    build's) are not encoded again, so a rebuild encodes only new text. ``encode``: a Ray build's workers
    (default: this process, ``second.encode_documents``)."""
    texts: dict[int, str] = {}
    for c, rows in zip(chunks, chunk_rows):
        for (a, b), r in zip(c.sentences, rows):
            texts.setdefault(r, docs[c.source].text[a:b])
    sentence_texts = [texts[r] for r in range(len(texts))]
    chunk_texts = [c.text for c in chunks]
    from ..models.onnx_models import INTEGERS

    cache = EmbeddingCache(index_dir / "cache" / f"{text_key(f'{second.MODEL}:{INTEGERS}')[:16]}.npz")
    if not chunk_texts:
        empty = np.zeros((0, second.DIM), dtype=np.float32)
        return second.SecondVectors(empty, empty), 0, cache, set()
    vectors, encoded = cache.embed(None, chunk_texts + sentence_texts, progress=lambda d, t: say("bge vectors", d, t),
                                   encode=encode or second.encode_documents)
    keep = {text_key(t) for t in chunk_texts + sentence_texts}
    return second.SecondVectors(vectors[: len(chunks)], vectors[len(chunks) :]), encoded, cache, keep


def stale_reasons(manifest: dict, corpus: Path, embedder: Embedder, settings: Settings | ChunkSettings) -> list[str]:
    """Why the index built with ``manifest`` no longer matches the corpus and settings ([] if fresh)."""
    reasons = []
    want = settings_of(embedder, settings)
    for key, value in want.items():
        if manifest.get("settings", {}).get(key) != value:
            reasons.append(f"{key} changed")
    if manifest.get("corpus") != str(corpus.resolve()):
        reasons.append(f"corpus folder changed ({manifest.get('corpus')} -> {corpus.resolve()})")
    old, new = manifest.get("fingerprint", {}), corpus_fingerprint(corpus)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        reasons.append(f"{len(changed)} file(s) added, removed or changed: {', '.join(changed[:5])}")
    return reasons


def previous_chunks(
    index_dir: Path, embedder: Embedder, settings: Settings, previous: store.LoadedIndex | None = None
) -> dict[str, tuple]:
    """{source: (document, its chunks)} from the live build if it was made with the same settings.

    Chunking is a pure function of the document and the settings, so a document
    that is unchanged (same text, title and structure) keeps its chunks and the
    rebuild skips sentence segmentation for it, the bulk of an incremental rebuild.
    ``previous`` is that build already loaded (and verified) by the caller; without
    it the build is read from disk. Anything unreadable means chunking everything again.
    """
    try:
        if previous is not None:
            manifest, docs, chunks = previous.manifest, previous.docs, previous.chunks
        else:
            build_dir = build_dirs.current_build(index_dir)
            manifest = build_dirs.read_manifest(build_dir)
        if manifest.get("settings") != settings_of(embedder, settings):
            return {}
        if manifest.get("model", {}).get("max_seq_length") != embedder.max_seq_length:
            return {}
        if previous is None:
            build_dirs.verify_files(build_dir, manifest)
            docs, chunks, _ = record_files.read_records(build_dir)
    except Exception:
        return {}
    out: dict[str, tuple] = {source: (doc, []) for source, doc in docs.items()}
    for c in chunks:
        out[c.source][1].append(c)
    return out


def _stopwatch(into: dict[str, float]) -> Callable[[str], None]:
    """``lap(name)``: the seconds since the previous lap (or since this call) go to ``into[name]``."""
    last = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        into[name] = into.get(name, 0.0) + now - last[0]
        last[0] = now

    return lap


def build(
    corpus: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: Settings | ChunkSettings = Settings(),
    progress: Progress | None = None,
    warn: Callable | None = None,
    previous: store.LoadedIndex | None = None,
    workers: RayWorkers | None = None,
) -> Path:
    """Build the index for ``corpus`` into ``index_dir`` and publish it. Call under build_dirs.build_lock.

    ``previous``: the live build, if the caller has already loaded it (its chunks are reused).
    ``workers``: a Ray cluster's workers to embed and encode on (qa/build/ray_workers.py); None: this process.
    Folders of builds that were killed or failed are removed first; a build that fails removes its own, and a
    full disk is said as such (DiskFullError), the live build untouched.
    """
    index_dir = Path(index_dir)
    with build_dirs.disk_full_said(index_dir):
        build_dirs.remove_abandoned(index_dir)
        return _build(corpus, index_dir, embedder, settings, progress, warn, previous, workers)


def _build(corpus: Path, index_dir: Path, embedder: Embedder, settings: Settings | ChunkSettings, progress: Progress | None,
           warn: Callable | None, previous: store.LoadedIndex | None, workers: RayWorkers | None) -> Path:
    settings = Settings.of(settings)
    t0 = time.perf_counter()
    stages: dict[str, float] = {}  # seconds per stage, in the manifest (the bench's build rate section reports them)
    lap = _stopwatch(stages)
    say = progress or (lambda stage, done, total: None)
    corpus = Path(corpus)
    fingerprint = corpus_fingerprint(corpus)
    docs, skipped = load_folder(corpus, warn=warn, progress=say)
    lap("read")
    say("chunking", 0, len(docs))
    max_seq = embedder.max_seq_length
    reusable = previous_chunks(index_dir, embedder, settings, previous)
    chunks = []
    for i, doc in enumerate(docs):
        prev_doc, prev_chunks = reusable.get(doc.source, (None, []))
        chunks.extend(prev_chunks if prev_doc == doc else chunk_document(doc, embedder.count_tokens, settings.chunk, max_seq))
        say("chunking", i + 1, len(docs))
    by_source = {d.source: d for d in docs}

    # Every distinct sentence once, with the same title/section context as its chunk: embedded on its own, or
    # pooled from the chunk's pass (sentences.py; settings.index.sentence_vectors)
    prefixers = {d.source: Prefixer(d, settings.chunk, embedder.count_tokens) for d in docs}
    mode = sentences.effective_mode(embedder, settings.index.sentence_vectors)
    plan = sentences.plan(chunks, by_source, prefixers, mode)
    chunk_rows = plan.chunk_rows
    lap("chunk")

    cache = EmbeddingCache(index_dir / "cache" / f"{text_key(embedder.name)[:16]}.npz")
    encode, encode_pooled, encode_late, late_block = None, None, late.encode_here, late.ENCODE_BLOCK
    if workers is not None:
        if workers.model != embedder.name:
            raise ValueError(f"The Ray workers embed with {workers.model!r}, the index with {embedder.name!r}")
        encode, encode_pooled, encode_late, late_block = workers.embed, workers.embed_pooled, workers.encode_late, workers.late_block
    chunk_vecs, sent_vecs, embedded, keep = sentences.embed(plan, chunks, mode, cache, embedder, encode, encode_pooled,
                                                            progress=lambda d, t: say("embedding", d, t),
                                                            chunks_from=settings.index.chunk_vectors)
    lap("embed")
    tmp, build_id = build_dirs.new_build_dir(index_dir)
    try:
        tokens, late_encoded, token_cache = None, 0, None
        if settings.index.late_interaction:
            tokens, late_encoded, token_cache = late_interaction(chunks, settings.index.late_codec, index_dir, tmp,
                                                                 previous, encode_late, late_block, say, stages)
        lap("late")  # ColBERT token vectors, written as they come; of which "codec_train" training their codec
        second_vecs, second_encoded, second_cache, second_keep = None, 0, None, set()
        if settings.index.second_dense:
            second_vecs, second_encoded, second_cache, second_keep = second_dense(
                chunks, chunk_rows, by_source, index_dir, say, None if workers is None else workers.encode_second)
        lap("second")
        if workers is not None:
            workers.say_totals()
        t_embed = time.perf_counter()

        import bm25s

        say("writing index", 0, 1)
        record_files.write_records(tmp, docs, chunks, chunk_rows, sent_vecs)
        lap("write_records")
        index = dense_index(chunk_vecs, settings.index)
        lap("dense_index")
        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG otherwise
        bm25 = bm25s.BM25()
        bm25.index(lexical.tokenize([c.embed_text for c in chunks], settings.index), show_progress=False)
        lap("bm25")
        store.write_indexes(tmp, index, bm25, second=second_vecs)  # the token rows are written already
        lap("write_indexes")
        manifest = {
            "format": build_dirs.FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "corpus": str(corpus.resolve()),
            "settings": settings_of(embedder, settings),
            "all_settings": settings.to_dict(),
            "model": {"name": embedder.name, "dim": embedder.dim, "max_seq_length": max_seq},
            "dense_index": {"type": dense_index_type(index), "vectors": index.ntotal},
            "documents": {d.source: d.sha256 for d in docs},
            "pages": {d.source: {"pages": len(d.pages), "ocr": sum(p.ocr for p in d.pages)} for d in docs if d.pages},
            "fingerprint": fingerprint,
            "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
            "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": len(plan.texts),
                       "embedded": embedded, "late_encoded": late_encoded, "second_encoded": second_encoded,
                       "late_tokens": 0 if tokens is None else len(tokens.vectors)},
            "seconds": {"embedding": round(t_embed - t0, 3), "total": round(time.perf_counter() - t0, 3),
                        "stages": {k: round(v, 3) for k, v in stages.items()}},  # publishing (hashing, renaming) after
            "versions": versions(),
        }
        final = build_dirs.publish(index_dir, tmp, build_id, manifest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed build leaves nothing behind (gone already once published)
        raise
    cache.save(keep=keep)
    if second_cache is not None:
        second_cache.save(keep=second_keep)
    if token_cache is not None:
        token_cache.clear()  # the published build holds every row: one copy on disk
    say("done", 1, 1)
    log.info("built %s: %s", final, json.dumps(manifest["counts"]))
    return final
