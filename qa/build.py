"""Build the index: load -> chunk -> embed -> FAISS + BM25 -> publish atomically.

Only text not already in the embedding cache is embedded, so a rebuild after
one document changes costs that document's new chunks and sentences.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np

from . import store
from .chunk import chunk_document, clean, context_prefix
from .config import ChunkSettings
from .embed import EmbeddingCache, Embedder, resolve_model, text_key
from .load import corpus_fingerprint, load_folder

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total)"""

BM25_STEMMER = "english"
BM25_STOPWORDS = "en"

ANN_THRESHOLD = 50_000
"""Above this many chunks the dense index is IVF (approximate) rather than exact flat search.

Exact search of k=100 costs, per query on this 2-core machine (``python -m qa
bench``, benchmarks/README.md): 0.6 ms at 10k vectors, 2.0 ms at 25k, 6.6 ms at
50k, 14.5 ms at 97k (past the CPU cache it grows faster than linearly). Up to 50k
exact search stays within a few ms, a small part of a query (embedding the
question takes ~13 ms), and never misses; above, the IVF index below answers
97k in 3.2 ms.
"""
IVF_LISTS_PER_SQRT_N = 3.2
"""IVF cells = 3.2 * sqrt(chunks): 1,000 cells at 100k (k-means training ~10 s)."""
IVF_PROBE_FRACTION = 0.25
"""Share of the cells searched per query.

Measured at 97k chunk vectors (the 135 eval questions as queries,
benchmarks/README.md): with 996 cells, probing 31 / 62 / 124 / 249 / 498 cells
gave recall@10 against exact search of 0.84 / 0.91 / 0.95 / 0.98 / 0.996 at
0.5 / 0.9 / 1.6 / 3.2 / 6.9 ms; a quarter is the cheapest setting with a margin
over 0.95. HNSW (M 32, efConstruction 80, efSearch 128 / 256 / 512) reached
0.78 / 0.86 / 0.93 on the same vectors: the synthetic collection recombines the
seed sentences, so its vectors sit in dense clusters of near-duplicates, which
IVF's cells handle and HNSW's graph does not.
"""


def bm25_tokenize(texts: list[str]):
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer(BM25_STEMMER) if BM25_STEMMER else None
    return bm25s.tokenize(texts, stopwords=BM25_STOPWORDS, stemmer=stemmer, show_progress=False)


def dense_index(vectors: np.ndarray):
    """Exact inner-product index for small collections, IVF above ANN_THRESHOLD (vectors are unit length)."""
    import faiss

    n, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if n > ANN_THRESHOLD:
        nlist = max(1, int(IVF_LISTS_PER_SQRT_N * np.sqrt(n)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = 1234  # k-means seed: the same vectors give the same index
        index.train(vectors)
        index.nprobe = max(1, round(nlist * IVF_PROBE_FRACTION))
        index.add(vectors)
        index.make_direct_map()  # reconstruct(row) for rescoring, saved with the index
    else:
        index = faiss.IndexFlatIP(dim)
        if n:
            index.add(vectors)
    return index


def dense_index_type(index) -> str:
    import faiss

    return "ivf" if isinstance(index, faiss.IndexIVF) else "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("qa", "faiss-cpu", "bm25s", "sentence-transformers", "torch", "transformers", "pysbd", "pypdf"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = ""
    return out


def settings_of(embedder: Embedder, settings: ChunkSettings) -> dict:
    """What, besides the documents, decides the index's contents: a change means rebuild."""
    return {
        "model": {"name": embedder.name, "path": resolve_model(embedder.name)},
        "chunking": settings.to_dict(),
        "bm25": {"stemmer": BM25_STEMMER, "stopwords": BM25_STOPWORDS},
        "format": store.FORMAT_VERSION,
    }


def stale_reasons(manifest: dict, corpus: Path, embedder: Embedder, settings: ChunkSettings) -> list[str]:
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
    index_dir: Path, embedder: Embedder, settings: ChunkSettings, previous: store.LoadedIndex | None = None
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
            build_dir = store.current_build(index_dir)
            manifest = store.read_manifest(build_dir)
        if manifest.get("settings") != settings_of(embedder, settings):
            return {}
        if manifest.get("model", {}).get("max_seq_length") != embedder.max_seq_length:
            return {}
        if previous is None:
            store.verify_files(build_dir, manifest)
            docs, chunks, _ = store.read_records(build_dir)
    except Exception:
        return {}
    out: dict[str, tuple] = {source: (doc, []) for source, doc in docs.items()}
    for c in chunks:
        out[c.source][1].append(c)
    return out


def build(
    corpus: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings = ChunkSettings(),
    progress: Progress | None = None,
    warn: Callable | None = None,
    previous: store.LoadedIndex | None = None,
) -> Path:
    """Build the index for ``corpus`` into ``index_dir`` and publish it. Call under store.build_lock.

    ``previous``: the live build, if the caller has already loaded it (its chunks are reused).
    """
    t0 = time.perf_counter()
    say = progress or (lambda stage, done, total: None)
    corpus = Path(corpus)
    fingerprint = corpus_fingerprint(corpus)
    say("loading documents", 0, 1)
    docs, skipped = load_folder(corpus, warn=warn)
    say("chunking", 0, len(docs))
    max_seq = embedder.max_seq_length
    reusable = previous_chunks(index_dir, embedder, settings, previous)
    chunks = []
    for i, doc in enumerate(docs):
        prev_doc, prev_chunks = reusable.get(doc.source, (None, []))
        chunks.extend(prev_chunks if prev_doc == doc else chunk_document(doc, embedder.count_tokens, settings, max_seq))
        say("chunking", i + 1, len(docs))
    by_source = {d.source: d for d in docs}

    # Every distinct sentence, embedded once with the same title/section context as its chunk.
    sentence_rows: dict[tuple[str, int, int], int] = {}
    sentence_texts: list[str] = []
    chunk_rows: list[list[int]] = []
    for c in chunks:
        rows = []
        for a, b in c.sentences:
            key = (c.source, a, b)
            if key not in sentence_rows:
                sentence_rows[key] = len(sentence_texts)
                body = clean(by_source[c.source].text[a:b])
                prefix = context_prefix(by_source[c.source], c.section) if settings.contextual else ""
                sentence_texts.append(f"{prefix}\n{body}" if prefix else body)
            rows.append(sentence_rows[key])
        chunk_rows.append(rows)

    cache = EmbeddingCache(index_dir / "cache" / f"{text_key(embedder.name)[:16]}.npz")
    texts = [c.embed_text for c in chunks] + sentence_texts
    vectors, embedded = cache.embed(embedder, texts, progress=lambda d, t: say("embedding", d, t))
    chunk_vecs, sent_vecs = vectors[: len(chunks)], vectors[len(chunks) :]
    t_embed = time.perf_counter()

    import bm25s
    import faiss

    tmp, build_id = store.new_build_dir(index_dir)
    say("writing index", 0, 1)
    store.write_jsonl(tmp / "docs.jsonl", (asdict(d) for d in docs))
    store.write_jsonl(
        tmp / "chunks.jsonl",
        (
            {
                "id": c.id,
                "source": c.source,
                "start": c.start,
                "end": c.end,
                "section": list(c.section),
                "sentences": [list(s) for s in c.sentences],
                "sentence_rows": rows,
                "embed_text": c.embed_text,
            }
            for c, rows in zip(chunks, chunk_rows)
        ),
    )
    with open(tmp / "sentences.npy", "wb") as f:
        np.save(f, sent_vecs.astype(np.float32))
    index = dense_index(chunk_vecs)
    faiss.write_index(index, str(tmp / "dense.faiss"))
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG otherwise
    retriever = bm25s.BM25()
    retriever.index(bm25_tokenize([c.embed_text for c in chunks]), show_progress=False)
    retriever.save(str(tmp / "bm25"), show_progress=False)
    manifest = {
        "format": store.FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "corpus": str(corpus.resolve()),
        "settings": settings_of(embedder, settings),
        "model": {"name": embedder.name, "dim": embedder.dim, "max_seq_length": max_seq},
        "dense_index": {"type": dense_index_type(index), "vectors": index.ntotal},
        "documents": {d.source: d.sha256 for d in docs},
        "fingerprint": fingerprint,
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": len(sentence_texts), "embedded": embedded},
        "seconds": {"embedding": round(t_embed - t0, 3), "total": round(time.perf_counter() - t0, 3)},
        "versions": versions(),
    }
    final = store.publish(index_dir, tmp, build_id, manifest)
    cache.save(keep={text_key(t) for t in texts})
    say("done", 1, 1)
    log.info("built %s: %s", final, json.dumps(manifest["counts"]))
    return final
