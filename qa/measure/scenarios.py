"""Benchmark scenarios: each measures one thing, in a child process of its own.

``qa.measure.bench`` (the command, tables and plot) runs them through ``run``; a child
is ``python -m qa.measure.scenarios KIND JSON`` and prints one JSON line, so its
peak resident memory (from ``wait4``) is its own. Also here: the synthetic
collections for the growth section, built from the seed text.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import config

ROOT = config.PROJECT_ROOT
OUT_DIR = ROOT / "benchmarks"
MODES = ("hybrid", "dense", "bm25")
EDIT_DOC = "000_ca9353bd9b097081.txt"  # the smallest seed document (2.7 kB): the incremental edit target
FALLBACK_QUESTIONS = [
    "Who leads Surrey Heartlands?",
    "What makes system leadership hard?",
    "Why is collaboration harder than competition?",
    "What do integrated care systems do?",
]


# -- helpers -------------------------------------------------------------------------------------


def summary(values) -> dict:
    v = np.asarray(list(values), dtype=float)
    if not len(v):
        return {"n": 0}
    p50, p95, p99 = np.percentile(v, [50, 95, 99])
    return {"n": int(len(v)), "p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3),
            "mean": round(float(v.mean()), 3), "min": round(float(v.min()), 3), "max": round(float(v.max()), 3)}


def questions(limit: int | None = None) -> list[str]:
    path = ROOT / "evals" / "questions.jsonl"
    qs = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line).get("question")
                if q:
                    qs.append(q)
    qs = qs or FALLBACK_QUESTIONS
    return qs[:limit] if limit else qs


def rss_mb() -> float:
    """Current resident memory of this process (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def proc_status_mb(field: str, pid: int | str = "self") -> float:
    """A memory line of /proc/PID/status in MB (VmRSS, VmHWM, RssAnon...); nan when the process or line is not there."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def anon_rss_mb() -> float:
    """Resident memory of this process that is its own (RssAnon): without the pages of files it maps, such as
    large token vectors (late_files.read_late), which the kernel shares with its page cache and can drop at will."""
    return proc_status_mb("RssAnon")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _embedder():
    from ..models.embed import Embedder

    class TimedEmbedder(Embedder):
        """Counts the time spent in the model (encode) and in its tokenizer (chunking)."""

        encode_s = 0.0
        encoded = 0
        tokenize_s = 0.0

        def encode_documents(self, texts, progress=None):
            t = time.perf_counter()
            out = super().encode_documents(texts, progress)
            self.encode_s += time.perf_counter() - t
            self.encoded += len(texts)
            return out

        def encode_documents_pooled(self, texts, pools, special=False, progress=None):
            t = time.perf_counter()
            out = super().encode_documents_pooled(texts, pools, special, progress)
            self.encode_s += time.perf_counter() - t
            self.encoded += len(texts)  # the pooled sentences come from these texts' passes
            return out

        def count_tokens(self, texts):
            t = time.perf_counter()
            out = super().count_tokens(texts)
            self.tokenize_s += time.perf_counter() - t
            return out

    return TimedEmbedder()


def loaded_embedder(shared=None):
    emb = shared if shared is not None else _embedder()
    t = time.perf_counter()
    emb.model
    return emb, time.perf_counter() - t


# -- scenarios (each runs in a child process, or in-process under --quick) ----------------------


def settings_for(a: dict):
    """The settings a scenario's arguments name: the defaults, with a.ann_threshold and a.sentence_vectors if given.
    An approximated build (a.approx_embed) makes its sentence vectors separately: the approximation averages
    sentences embedded on their own."""
    from ..config import Settings

    index = {k: v for k, v in (("ann_threshold", a.get("ann_threshold")), ("sentence_vectors", a.get("sentence_vectors")))
             if v is not None}
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
            "sentence_vectors": m["settings"].get("sentence_vectors"),
            "stages_s": m.get("seconds", {}).get("stages", {}),
            "index_bytes": disk_bytes(path), "cache_bytes": disk_bytes(index_dir / "cache"), "path": str(path)}


def _approximate(emb, pool, cache_dir: Path, limit: int = 400) -> None:
    """Make ``emb`` embed long synthetic texts (chunks) as the mean of their sentences' real vectors.

    Only for growth sizes beyond what the machine can embed in the time available
    (``--approx-embed-above``): everything else in the build runs for real, and
    the report marks the embedding time of those sizes as extrapolated.
    """
    from ..models.embed import EmbeddingCache, text_key

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


STAGES = ("embed_ms", "search_ms", "rerank_ms", "sentences_ms", "total_ms")
"""The stages Engine.ask times: question embedding, first stage (dense, BM25, ColBERT, fusion), cross-encoder, sentence scoring."""


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
    for q in qs[:20]:  # warm-up
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


SCENARIOS = {"build": scenario_build, "incremental": scenario_incremental, "query": scenario_query, "recall": scenario_recall,
             "chunking": scenario_chunking}


def run(kind: str, a: dict, inproc=None, module: str = "qa.measure.scenarios") -> dict:
    """Run a scenario in a child process (peak RSS via wait4), or in this process when ``inproc`` is an embedder.

    ``module``: where the child finds scenario ``kind`` (a module whose ``__main__`` runs its SCENARIOS)."""
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    if inproc is not None:
        out = importlib.import_module(module).SCENARIOS[kind](a, shared=inproc)
        out["peak_rss_mb"] = peak_rss_mb()
        out["peak_rss_note"] = "whole bench process (--quick runs in-process)"
    else:
        with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
            proc = subprocess.Popen([sys.executable, "-m", module, kind, json.dumps(a)], stdout=so, stderr=se, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            so.seek(0)
            se.seek(0)
            lines = so.read().strip().splitlines()
            if proc.returncode or not lines:
                raise RuntimeError(f"bench scenario {kind} failed (exit {proc.returncode}): {se.read()[-2000:]}")
            out = json.loads(lines[-1])
            out["peak_rss_mb"] = usage.ru_maxrss / 1024
            out["cpu_s"] = usage.ru_utime + usage.ru_stime
    out["wall_s"] = time.perf_counter() - t
    out["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return out


def cold_start(corpus: Path, index_dir: Path, question: str, runs: int) -> dict:
    """Process start to printed answer of ``python -m qa ask`` over a built index."""
    times, peaks = [], []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa", "ask", question, "--index-dir", str(index_dir), "--corpus", str(corpus)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        text = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - t)
        peaks.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) or "[1]" not in text:
            raise RuntimeError(f"`qa ask` did not print an answer (exit {os.waitstatus_to_exitcode(status)})")
    return {"seconds": summary(times), "peak_rss_mb": summary(peaks)}


# -- synthetic collections ----------------------------------------------------------------------


def sentence_pool(corpus: Path) -> list[tuple[str, list[str]]]:
    """(title, sentences) of each seed document, sentences as the chunker sees them."""
    from ..ingest.chunk import clean, paragraphs, split_sentences
    from ..ingest.load import load_folder

    docs, _ = load_folder(corpus)
    pool = []
    for d in docs:
        sents = [clean(d.text[a:b]) for (ps, pe), _ in paragraphs(d) for a, b in split_sentences(d.text, ps, pe)]
        sents = [s for s in sents if 40 <= len(s) <= 400 and s[-1] in ".!?”\"'’)"]
        if sents:
            pool.append((d.title, sents))
    return pool


def synthetic_doc(k: int, pool) -> str:
    """Document k: a seed title and 10-20 paragraphs of 1-4 sentences drawn from that seed document."""
    rng = random.Random(k)
    title, sents = pool[k % len(pool)]
    paras = [" ".join(rng.choice(sents) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(10, 20))]
    return f"# {title}\n\n" + "\n\n".join(paras) + "\n"


def write_collection(folder: Path, docs: int, pool) -> Path:
    """Documents 0..docs-1 in ``folder`` (existing ones kept: they are deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(docs):
        path = folder / f"syn{k:06d}.md"
        if not path.exists():
            path.write_text(synthetic_doc(k, pool), encoding="utf-8")
    for extra in sorted(folder.glob("syn*.md"))[docs:]:
        extra.unlink()
    return folder


def write_long_text(path: Path, mb: float, pool) -> Path:
    """One plain-text file of about ``mb`` MB: paragraphs of 1-6 seed sentences, a heading every ~200 paragraphs."""
    rng = random.Random(int(mb * 1000))
    target, size = int(mb * 1e6), 0
    with open(path, "w", encoding="utf-8") as f:
        n = 0
        while size < target:
            title, sents = pool[n % len(pool)]
            para = (f"Part {n // 200 + 1}\n\n" if n % 200 == 0 else "") + " ".join(
                rng.choice(sents) for _ in range(rng.randint(1, 6))) + "\n\n"
            size += len(para.encode("utf-8"))
            f.write(para)
            n += 1
    return path


def short_doc(k: int, pool) -> str:
    """Short document k, like an abstract: a title and one paragraph of 4-9 sentences from one seed document."""
    rng = random.Random(10_000 + k)
    title, sents = pool[k % len(pool)]
    return f"{title} ({k})\n\n" + " ".join(rng.choice(sents) for _ in range(rng.randint(4, 9))) + "\n"


def write_short_docs(folder: Path, docs: int, pool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(docs):
        (folder / f"short{k:06d}.txt").write_text(short_doc(k, pool), encoding="utf-8")
    return folder


def chunks_per_doc(pool, sample: int = 40) -> float:
    from ..ingest.chunk import chunk_document
    from ..config import ChunkSettings
    from ..models.embed import Embedder
    from ..ingest.load import read_document

    emb = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for k in range(sample):
            path = Path(tmp) / f"syn{k:06d}.md"
            path.write_text(synthetic_doc(k, pool), encoding="utf-8")
            n += len(chunk_document(read_document(path, path.name), emb.count_tokens, ChunkSettings(), emb.max_seq_length))
    return n / sample


if __name__ == "__main__":  # a scenario in a child process: python -m qa.measure.scenarios KIND JSON
    print(json.dumps(SCENARIOS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
