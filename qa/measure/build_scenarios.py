"""The scenarios that build: a full build (with stand-ins for the model at sizes beyond the time available),
an incremental rebuild after an edit, and reading and chunking. Each runs in a child process
(qa/measure/scenarios.py ``run``), or in-process under --quick."""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from .meters import disk_bytes, loaded_embedder, rss_mb, summary
from .synthetic import sentence_pool

BUILD_OPTIONS = ("sentence_vectors", "chunk_vectors")
"""The bench's options (--sentence-vectors, --chunk-vectors) that a build scenario hands to IndexSettings."""


def build_options(opt) -> dict:
    """The build options the bench was given, for a scenario's arguments (None: the default)."""
    return {k: getattr(opt, k, None) for k in BUILD_OPTIONS}


EDIT_DOC = "000_ca9353bd9b097081.txt"  # the smallest seed document (2.7 kB): the incremental edit target


def settings_for(a: dict):
    """The settings a scenario's arguments name: the defaults, with a.ann_threshold, a.sentence_vectors and
    a.chunk_vectors if given.
    An approximated build (a.approx_embed) makes its sentence vectors separately: the approximation averages
    sentences embedded on their own."""
    from ..config import Settings

    index = {k: a[k] for k in ("ann_threshold", *BUILD_OPTIONS) if a.get(k) is not None}
    if a.get("approx_embed"):
        index["sentence_vectors"] = "separate"
    s = Settings()
    return dataclasses.replace(s, index=dataclasses.replace(s.index, **index)) if index else s


def scenario_build(a: dict, shared=None) -> dict:
    """One full build of a.corpus into a fresh a.index_dir (optionally seeded with an embedding cache)."""
    from ..build import builder
    from ..models import late
    from ..index import build_dirs

    settings = settings_for(a)
    index_dir = Path(a["index_dir"])
    if a.get("cache_from"):
        shutil.copytree(Path(a["cache_from"]) / "cache", index_dir / "cache", dirs_exist_ok=True)
    emb, load_s = loaded_embedder(shared)
    if a.get("approx_embed"):
        _approximate(emb, sentence_pool(Path(a["approx_embed"])), index_dir / "cache")
    e0, n0, k0 = emb.encode_s, emb.encoded, emb.tokenize_s
    real_late, late_counts = late.encode_here, {}
    if a.get("approx_late"):
        late.encode_here = _approximate_late(int(a["approx_late"]), late_counts)
    t = time.perf_counter()
    try:
        with build_dirs.build_lock(index_dir):
            path = builder.build(Path(a["corpus"]), index_dir, emb, settings)
    finally:
        emb.__dict__.pop("encode_documents", None)  # undo _approximate on a shared embedder
        late.encode_here = real_late
    build_s = time.perf_counter() - t
    m = build_dirs.read_manifest(path)
    return {"model_load_s": load_s, "build_s": build_s, "encode_s": emb.encode_s - e0, "encoded": emb.encoded - n0,
            "approximated": getattr(emb, "approximated", 0), "late_approximated": late_counts.get("approximated", 0),
            "late_real": late_counts.get("real"),
            "tokenize_s": emb.tokenize_s - k0, "counts": m["counts"], "dense_index": m["dense_index"],
            "sentence_vectors": m["settings"].get("sentence_vectors"), "chunk_vectors": m["settings"].get("chunk_vectors"),
            "stages_s": m.get("seconds", {}).get("stages", {}),
            "index_bytes": disk_bytes(path), "cache_bytes": disk_bytes(index_dir / "cache"), "path": str(path)}


def _approximate(emb, pool, cache_dir: Path, limit: int = 400) -> None:
    """Make ``emb`` embed long synthetic texts (chunks) as the mean of their sentences' real vectors.

    Only for growth sizes beyond what the machine can embed in the time available
    (``--approx-embed-above``): everything else in the build runs for real, and
    the report marks the embedding time of those sizes as extrapolated.
    """
    from ..models.embed import text_key
    from ..models.embed_cache import EmbeddingCache

    known: dict[str, dict[str, list[str]]] = {"": {}}  # by title prefix ("" = any), then by first 40 chars
    for title, sents in pool:
        for s_ in sents:
            known.setdefault(title, {}).setdefault(s_[:40], []).append(s_)
            known[""].setdefault(s_[:40], []).append(s_)
    vec: dict[str, np.ndarray] = {}
    for f in cache_dir.glob("*.npz"):
        vec.update(EmbeddingCache(f).vectors)
    real = emb.encode_documents
    emb.approximated = 0

    def split(prefix: str, body: str) -> list[str]:
        table, out, p = known.get(prefix) or known[""], [], 0
        while p < len(body):
            cands = [c for c in table.get(body[p : p + 40], []) if body.startswith(c, p)]
            if cands:
                c = max(cands, key=len)
                out.append(c)
                p += len(c) + 1
            else:
                q = body.find(" ", body.find(". ", p) + 1)
                p = len(body) if q < 0 or body.find(". ", p) < 0 else q + 1
        return [f"{prefix}\n{x}" if prefix else x for x in out]

    def encode(texts, progress=None):
        texts = list(texts)
        pb = [t.split("\n", 1) if "\n" in t else ["", t] for t in texts]
        out = np.zeros((len(texts), emb.dim), dtype=np.float32)
        short = [i for i, (_, b) in enumerate(pb) if len(b) <= limit]
        if short:
            out[short] = real([texts[i] for i in short], progress)
            vec.update((text_key(texts[i]), out[i]) for i in short)
        t = time.perf_counter()
        parts = {i: split(p, b) for i, (p, b) in enumerate(pb) if len(b) > limit}
        missing = sorted({x for v in parts.values() for x in v if text_key(x) not in vec})
        if missing:
            vec.update((text_key(x), v) for x, v in zip(missing, real(missing)))
        unmatched = [i for i, ss in parts.items() if not ss]
        if unmatched:
            out[unmatched] = real([texts[i] for i in unmatched])
        for i, ss in parts.items():
            if ss:
                v = np.mean([vec[text_key(x)] for x in ss], axis=0)
                out[i] = v / np.linalg.norm(v)
        emb.approximated += len(parts)
        emb.encode_s += time.perf_counter() - t
        return out

    emb.encode_documents = encode


def _approximate_late(real_chunks: int, counts: dict):
    """A stand-in for late.encode_here: the first ``real_chunks`` chunks it is given are encoded by ColBERT; every
    later chunk gets, for each of its word pieces, the vector ColBERT gave the same word piece last (in another
    context), its spans exact. Only for store sizes beyond what the machine can encode in the time available
    (``--approx-late-above``): a query's cost depends on the number and shape of the token vectors, not their values,
    and the report marks those sizes."""
    from ..models import late

    real, by_id = late.encode_here, {}
    counts.update(real=0, approximated=0)

    def encode(chunks):
        chunks = list(chunks)
        if counts["real"] < real_chunks or not by_id:
            out = real(chunks)
            for c, (vecs, _) in zip(chunks, out):
                seq, body, _ = late.chunk_tokens(c)
                by_id.update(zip(seq[body].tolist(), vecs))
            counts["real"] += len(chunks)
            return out
        fallback, out = next(iter(by_id.values())), []
        for c in chunks:
            seq, body, spans = late.chunk_tokens(c)
            ids = seq[body].tolist()
            vecs = np.stack([by_id.get(i, fallback) for i in ids]) if ids else np.zeros((0, len(fallback)), dtype=late.DTYPE)
            out.append((vecs.astype(late.DTYPE, copy=False), spans[body]))
        counts["approximated"] += len(chunks)
        return out

    return encode


def scenario_incremental(a: dict, shared=None) -> dict:
    """Build a copy of the corpus, then edit one small document and reopen (auto rebuild), a.runs times."""
    from ..engine import Engine

    emb, load_s = loaded_embedder(shared)
    corpus, index_dir = Path(a["corpus"]), Path(a["index_dir"])
    Engine(corpus=corpus, index_dir=index_dir, embedder=emb)
    target = corpus / a.get("edit", EDIT_DOC)
    times, embedded = [], []
    for i in range(int(a["runs"])):
        with open(target, "a", encoding="utf-8") as f:
            f.write(f"\n\nEdit {i} at {time.time():.0f}: the board agreed a new plan for the winter months.\n")
        t = time.perf_counter()
        engine = Engine(corpus=corpus, index_dir=index_dir, embedder=emb)  # stale -> rebuild -> load
        times.append(time.perf_counter() - t)
        embedded.append(engine.index.manifest["counts"]["embedded"])
    return {"model_load_s": load_s, "rebuild_s": summary(times), "embedded_per_rebuild": embedded}


def scenario_chunking(a: dict, shared=None) -> dict:
    """Read and chunk a.path (one generated text of a.mb MB, or a folder): MB/s of each step, and its memory.

    The tokenizer is loaded before timing (counting word pieces needs it; loading it is not chunking)."""
    from ..ingest.chunk import chunk_document
    from ..config import ChunkSettings
    from ..ingest.load import load_folder, read_document

    emb, _ = loaded_embedder(shared)
    emb.count_tokens(["warm up"])
    path = Path(a["path"])
    rss0 = rss_mb()
    t = time.perf_counter()
    docs = load_folder(path)[0] if path.is_dir() else [read_document(path, path.name)]
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    chunks = sum(len(chunk_document(d, emb.count_tokens, ChunkSettings(), emb.max_seq_length)) for d in docs)
    t_chunk = time.perf_counter() - t
    mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6
    return {"mb": mb, "documents": len(docs), "chunks": chunks, "load_s": t_load, "chunk_s": t_chunk,
            "load_mb_per_s": mb / max(t_load, 1e-9), "chunk_mb_per_s": mb / max(t_chunk, 1e-9),
            "rss_before_mb": rss0, "rss_after_mb": rss_mb()}
