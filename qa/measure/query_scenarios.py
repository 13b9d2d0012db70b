"""The scenarios that ask: warm query latency of Engine.ask per mode, with its stages and memory, and the recall
of the approximate dense index against exact search. Each runs in a child process (qa/measure/scenarios.py
``run``), or in-process under --quick."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .meters import loaded_embedder, rss_mb, summary

MODES = ("hybrid", "dense", "bm25")

STAGES = ("embed_ms", "search_ms", "rerank_ms", "sentences_ms", "total_ms")
"""The stages Engine.ask times: question embedding, first stage (dense, BM25, ColBERT, bge, fusion), cross-encoder, sentence scoring."""


def scenario_query(a: dict, shared=None) -> dict:
    """Warm in-process latency of Engine.ask per mode over the questions, a.reps times each."""
    from ..engine import Engine

    before = rss_mb()
    emb, load_s = loaded_embedder(shared)
    with_model = rss_mb()
    t = time.perf_counter()
    engine = Engine(corpus=a["corpus"], index_dir=a["index_dir"], embedder=emb, build="never")
    index_load_s = time.perf_counter() - t
    with_index = rss_mb()
    qs = a["questions"]
    for q in qs[: int(a.get("warmup", 20))]:  # warm-up
        for mode in MODES:
            engine.ask(q, mode=mode)
    total = {m: [] for m in MODES}
    stages: dict[str, list[float]] = {s_: [] for s_ in STAGES}
    for _ in range(int(a["reps"])):
        for q in qs:
            for mode in MODES:
                t = time.perf_counter()
                ans = engine.ask(q, mode=mode)
                total[mode].append((time.perf_counter() - t) * 1e3)
                if mode == "hybrid":
                    for s_ in STAGES:
                        stages[s_].append(ans.timings.get(s_, 0.0))
    return {
        "model_load_s": load_s, "index_load_s": index_load_s, "questions": len(qs), "reps": int(a["reps"]),
        "latency_ms": {m: summary(v) for m, v in total.items()},
        "query_embed_ms": summary(stages["embed_ms"]),
        "stages_ms": {s_: summary(v) for s_, v in stages.items()},
        "settings": engine.settings.to_dict(),
        "rss_mb": {"start": before, "with_model": with_model, "with_index": with_index, "end": rss_mb()},
        "dense_index": engine.index.manifest["dense_index"], "chunks": len(engine.index.chunks),
    }


def scenario_recall(a: dict, shared=None) -> dict:
    """Recall of the built approximate index (and alternatives) against exact search, on its real chunk vectors."""
    import faiss

    from ..models.embed import Embedder

    index = faiss.read_index(str(Path(a["build"]) / "dense.faiss"))
    vecs = np.ascontiguousarray(index.reconstruct_n(0, index.ntotal))
    emb = shared if shared is not None else Embedder()
    q = emb.encode(a["questions"])
    n, dim = vecs.shape

    def timed_search(idx, k):
        t = time.perf_counter()
        res = [idx.search(q[i : i + 1], k) for i in range(len(q))]  # one query at a time, as served
        ms = (time.perf_counter() - t) * 1e3 / len(q)
        return np.vstack([r[0] for r in res]), np.vstack([r[1] for r in res]), ms

    flat = faiss.IndexFlatIP(dim)
    flat.add(vecs)
    exact_d, exact_i, flat_ms = timed_search(flat, 100)

    def measure(idx) -> dict:
        d, i, ms = timed_search(idx, 100)
        out = {"ms_per_query_k100": ms}
        for k in (10, 100):
            out[f"recall@{k}"] = float(np.mean([len(set(g[:k]) & set(e[:k])) / k for g, e in zip(i, exact_i)]))
            # ann-benchmarks' tie-tolerant form: a result counts if it scores within 1e-3 of the exact k-th
            out[f"score_recall@{k}"] = float(np.mean((d[:, :k] >= exact_d[:, k - 1 : k] - 1e-3).sum(1) / k))
        return out

    out = {"vectors": n, "queries": len(q), "flat_ms_per_query_k100": flat_ms}
    if isinstance(index, faiss.IndexIVF):
        out["built_index"] = {"type": "ivf", "nlist": index.nlist, "nprobe": index.nprobe, **measure(index)}
        sweep = []
        for frac in a.get("probe_fractions", [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1]):
            index.nprobe = max(1, round(index.nlist * frac))
            sweep.append({"type": "ivf", "nlist": index.nlist, "nprobe": index.nprobe, **measure(index)})
        out["ivf_sweep"] = sweep
    hnsw = []
    for m in a.get("M", []):
        h = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = 80
        t = time.perf_counter()
        h.add(vecs)
        add_s = time.perf_counter() - t
        for ef in a.get("efSearch", []):
            h.hnsw.efSearch = ef
            hnsw.append({"type": "hnsw", "M": m, "efConstruction": 80, "efSearch": ef, "build_s": add_s, **measure(h)})
    out["hnsw_sweep"] = hnsw
    flat_by_n = []
    for size in sorted({s_ for s_ in a.get("flat_sizes", []) if s_ < n} | {n}):
        f = faiss.IndexFlatIP(dim)
        f.add(vecs[:size])
        flat_by_n.append({"vectors": size, "ms_per_query_k100": timed_search(f, 100)[2]})
    out["flat_by_size"] = flat_by_n
    return out
