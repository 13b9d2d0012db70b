"""Benchmarks: build time, incremental rebuild, cold start, query latency, memory, growth, ANN recall.

``python -m qa bench`` runs every scenario and writes benchmarks/results.json,
benchmarks/growth.png and prints the tables (benchmarks/README.md has the
method and the figures). Each scenario runs in its own child process so that
its peak resident memory (from ``wait4``) is its own; ``--quick`` runs a
tiny version in this process, for CI, checking that the benchmark works.

Growth collections are generated from the seed text: every synthetic document
takes the title of one seed document and paragraphs of 1-4 sentences drawn from
that document, so chunk texts are new (and must be embedded) while sentences
repeat (the content-hash cache embeds each once). Collection n is a prefix of
collection n+1, so each size is built with the embedding cache of the size
before it: build time with an empty cache = the build's own time + the
measured encode time of the texts the earlier sizes embedded.
"""

from __future__ import annotations

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

from . import config

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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _embedder():
    from .embed import Embedder

    class TimedEmbedder(Embedder):
        """Counts the time spent in the model (encode) and in its tokenizer (chunking)."""

        encode_s = 0.0
        encoded = 0
        tokenize_s = 0.0

        def encode(self, texts, progress=None):
            t = time.perf_counter()
            out = super().encode(texts, progress)
            self.encode_s += time.perf_counter() - t
            self.encoded += len(texts)
            return out

        def count_tokens(self, texts):
            t = time.perf_counter()
            out = super().count_tokens(texts)
            self.tokenize_s += time.perf_counter() - t
            return out

    return TimedEmbedder()


def _loaded_embedder(shared=None):
    emb = shared if shared is not None else _embedder()
    t = time.perf_counter()
    emb.model
    return emb, time.perf_counter() - t


# -- scenarios (each runs in a child process, or in-process under --quick) ----------------------


def scenario_build(a: dict, shared=None) -> dict:
    """One full build of a.corpus into a fresh a.index_dir (optionally seeded with an embedding cache)."""
    from . import build as builder
    from . import store

    if a.get("ann_threshold"):
        builder.ANN_THRESHOLD = int(a["ann_threshold"])
    index_dir = Path(a["index_dir"])
    if a.get("cache_from"):
        shutil.copytree(Path(a["cache_from"]) / "cache", index_dir / "cache", dirs_exist_ok=True)
    emb, load_s = _loaded_embedder(shared)
    if a.get("approx_embed"):
        _approximate(emb, sentence_pool(Path(a["approx_embed"])), index_dir / "cache")
    e0, n0, k0 = emb.encode_s, emb.encoded, emb.tokenize_s
    t = time.perf_counter()
    try:
        with store.build_lock(index_dir):
            path = builder.build(Path(a["corpus"]), index_dir, emb)
    finally:
        emb.__dict__.pop("encode", None)  # undo _approximate on a shared embedder
    build_s = time.perf_counter() - t
    m = store.read_manifest(path)
    return {"model_load_s": load_s, "build_s": build_s, "encode_s": emb.encode_s - e0, "encoded": emb.encoded - n0,
            "approximated": getattr(emb, "approximated", 0),
            "tokenize_s": emb.tokenize_s - k0, "counts": m["counts"], "dense_index": m["dense_index"],
            "index_bytes": disk_bytes(path), "cache_bytes": disk_bytes(index_dir / "cache"), "path": str(path)}


def _approximate(emb, pool, cache_dir: Path, limit: int = 400) -> None:
    """Make ``emb`` embed long synthetic texts (chunks) as the mean of their sentences' real vectors.

    Only for growth sizes beyond what the machine can embed in the time available
    (``--approx-embed-above``): everything else in the build runs for real, and
    the report marks the embedding time of those sizes as extrapolated.
    """
    from .embed import EmbeddingCache, text_key

    known: dict[str, dict[str, list[str]]] = {"": {}}  # by title prefix ("" = any), then by first 40 chars
    for title, sents in pool:
        for s_ in sents:
            known.setdefault(title, {}).setdefault(s_[:40], []).append(s_)
            known[""].setdefault(s_[:40], []).append(s_)
    vec: dict[str, np.ndarray] = {}
    for f in cache_dir.glob("*.npz"):
        vec.update(EmbeddingCache(f).vectors)
    real = emb.encode
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

    emb.encode = encode


def scenario_incremental(a: dict, shared=None) -> dict:
    """Build a copy of the corpus, then edit one small document and reopen (auto rebuild), a.runs times."""
    from .engine import Engine

    emb, load_s = _loaded_embedder(shared)
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


def scenario_query(a: dict, shared=None) -> dict:
    """Warm in-process latency of Engine.ask per mode over the questions, a.reps times each."""
    from .engine import Engine

    before = rss_mb()
    emb, load_s = _loaded_embedder(shared)
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
    embed = {m: [] for m in MODES}
    for _ in range(int(a["reps"])):
        for q in qs:
            for mode in MODES:
                t = time.perf_counter()
                ans = engine.ask(q, mode=mode)
                total[mode].append((time.perf_counter() - t) * 1e3)
                embed[mode].append(ans.timings["embed_ms"])
    return {
        "model_load_s": load_s, "index_load_s": index_load_s, "questions": len(qs), "reps": int(a["reps"]),
        "latency_ms": {m: summary(v) for m, v in total.items()},
        "query_embed_ms": summary(embed["hybrid"]),
        "rss_mb": {"start": before, "with_model": with_model, "with_index": with_index, "end": rss_mb()},
        "dense_index": engine.index.manifest["dense_index"], "chunks": len(engine.index.chunks),
    }


def scenario_recall(a: dict, shared=None) -> dict:
    """Recall of the built approximate index (and alternatives) against exact search, on its real chunk vectors."""
    import faiss

    from .embed import Embedder

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


SCENARIOS = {"build": scenario_build, "incremental": scenario_incremental, "query": scenario_query, "recall": scenario_recall}


def run(kind: str, a: dict, inproc=None) -> dict:
    """Run a scenario in a child process (peak RSS via wait4), or in this process when ``inproc`` is an embedder."""
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    if inproc is not None:
        out = SCENARIOS[kind](a, shared=inproc)
        out["peak_rss_mb"] = peak_rss_mb()
        out["peak_rss_note"] = "whole bench process (--quick runs in-process)"
    else:
        with tempfile.TemporaryFile("w+") as so, tempfile.TemporaryFile("w+") as se:
            proc = subprocess.Popen([sys.executable, "-m", "qa.bench", kind, json.dumps(a)], stdout=so, stderr=se, cwd=ROOT)
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
    from .chunk import clean, paragraphs, split_sentences
    from .load import load_folder

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


def chunks_per_doc(pool, sample: int = 40) -> float:
    from .chunk import chunk_document
    from .config import ChunkSettings
    from .embed import Embedder
    from .load import read_document

    emb = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        n = 0
        for k in range(sample):
            path = Path(tmp) / f"syn{k:06d}.md"
            path.write_text(synthetic_doc(k, pool), encoding="utf-8")
            n += len(chunk_document(read_document(path, path.name), emb.count_tokens, ChunkSettings(), emb.max_seq_length))
    return n / sample


# -- sections -------------------------------------------------------------------------------------


def seed_section(opt, work: Path, inproc) -> dict:
    corpus = Path(opt.corpus)
    if opt.quick:  # the three small seed documents: seconds, not minutes
        small = work / "seed-small"
        small.mkdir(parents=True, exist_ok=True)
        for name in ("000_ca9353bd9b097081.txt", "001_86436277e955a737.txt", "004_5a4e078f2933e62d.txt", "catalog.toml"):
            shutil.copy(corpus / name, small / name)
        corpus = small
    qs = questions(opt.questions)
    builds = [run("build", {"corpus": str(corpus), "index_dir": str(work / f"seed-full-{i}")}, inproc) for i in range(opt.runs)]
    built = work / "seed-full-0"
    chunks = builds[0]["counts"]["chunks"]
    build_s = summary(b["build_s"] for b in builds)
    full = {
        "runs": len(builds), "counts": builds[0]["counts"], "build_s": build_s,
        "build_with_model_load_s": summary(b["build_s"] + b["model_load_s"] for b in builds),
        "encode_s": summary(b["encode_s"] for b in builds), "tokenize_s": summary(b["tokenize_s"] for b in builds),
        "model_load_s": summary(b["model_load_s"] for b in builds), "chunks_per_s": chunks / build_s["p50"],
        "texts_embedded_per_s": builds[0]["encoded"] / max(1e-9, summary(b["encode_s"] for b in builds)["p50"]),
        "index_bytes": builds[0]["index_bytes"], "cache_bytes": builds[0]["cache_bytes"],
        "peak_rss_mb": summary(b["peak_rss_mb"] for b in builds), "loadavg": [b["loadavg"] for b in builds],
        "cpu_s": [b.get("cpu_s") for b in builds],
    }
    copy = work / "seed-copy"
    shutil.copytree(corpus, copy, dirs_exist_ok=True)
    inc = run("incremental", {"corpus": str(copy), "index_dir": str(work / "seed-inc"), "runs": opt.runs_incremental}, inproc)
    cold = cold_start(corpus, built, qs[0], opt.runs_cold)
    query = run("query", {"corpus": str(corpus), "index_dir": str(built), "questions": qs, "reps": opt.reps}, inproc)
    return {"corpus": str(corpus), "full_build": full, "incremental": inc, "cold_start": cold, "query": query}


def growth_section(opt, work: Path, inproc) -> dict:
    pool = sentence_pool(Path(opt.corpus))
    cpd = chunks_per_doc(pool)
    qs = questions(opt.questions)
    folder = work / "growth-corpus"
    rows, prev, encode_total, rate = [], None, 0.0, None
    for size in opt.sizes:
        t = time.perf_counter()
        write_collection(folder, max(1, round(size / cpd)), pool)
        gen_s = time.perf_counter() - t
        index_dir = work / f"growth-{size}"
        approx = opt.approx_embed_above is not None and size > opt.approx_embed_above
        a = {"corpus": str(folder), "index_dir": str(index_dir), "cache_from": str(prev) if prev else None,
             "ann_threshold": opt.ann_threshold, "approx_embed": opt.corpus if approx else None}
        b = run("build", a, inproc)
        if approx and rate is None:
            raise ValueError("--approx-embed-above must leave at least the smallest growth size embedded for real")
        if approx:  # extrapolate from the texts/s of the last size embedded for real
            encode_total += b["counts"]["embedded"] / rate  # the texts a real build would embed
        else:
            encode_total += b["encode_s"]
            rate = b["encoded"] / max(b["encode_s"], 1e-9)
        q = run("query", {"corpus": str(folder), "index_dir": str(index_dir), "questions": qs,
                          "reps": max(1, opt.reps // 2)}, inproc)
        rows.append({
            "target_chunks": size, "chunks": b["counts"]["chunks"], "documents": b["counts"]["documents"],
            "sentences": b["counts"]["sentences"], "corpus_bytes": disk_bytes(folder), "generate_s": gen_s,
            "dense_index": b["dense_index"]["type"], "embedding": "approximated" if approx else "real",
            "approximated_texts": b["approximated"],
            "build_s_cached_earlier": b["build_s"], "encode_s_this_build": b["encode_s"], "embedded_this_build": b["counts"]["embedded"],
            "build_s_cold": b["build_s"] - b["encode_s"] + encode_total, "encode_s_cold": encode_total,
            "tokenize_s": b["tokenize_s"], "build_peak_rss_mb": b["peak_rss_mb"], "build_cpu_s": b.get("cpu_s"),
            "index_bytes": b["index_bytes"], "cache_bytes": b["cache_bytes"],
            "query_peak_rss_mb": q["peak_rss_mb"], "query_rss_mb": q["rss_mb"], "index_load_s": q["index_load_s"],
            "latency_ms": q["latency_ms"], "query_embed_ms": q["query_embed_ms"], "queries_per_mode": q["questions"] * q["reps"],
            "loadavg": {"build": b["loadavg"], "query": q["loadavg"]}, "build_path": b["path"],
        })
        prev = index_dir
        _save_partial(opt, "growth", {"chunks_per_doc": cpd, "sizes": rows})
    return {"chunks_per_doc": cpd, "sizes": rows}


def ann_section(opt, growth: dict, inproc) -> dict:
    last = growth["sizes"][-1]
    a = {"build": last["build_path"], "questions": questions(opt.questions), "M": opt.hnsw_m, "efSearch": opt.ef_search,
         "flat_sizes": [r["chunks"] for r in growth["sizes"]] + [25_000, 50_000]}
    return run("recall", a, inproc)


# -- report ---------------------------------------------------------------------------------------


def _f(x, nd=1) -> str:
    return "-" if x is None else f"{x:,.{nd}f}"


def render(r: dict) -> str:
    out = []
    s = r.get("seed")
    if s:
        fb, inc, cold, q = s["full_build"], s["incremental"], s["cold_start"], s["query"]
        c = fb["counts"]
        out += [f"### Seed corpus ({c['documents']} documents, {c['chunks']} chunks, {c['sentences']} sentences)", "",
                "| measure | p50 | p95 | runs |", "|---|---:|---:|---:|",
                f"| full build, empty cache, model loaded (s) | {_f(fb['build_s']['p50'], 2)} | {_f(fb['build_s']['p95'], 2)} | {fb['runs']} |",
                f"| ... of which embedding (s) | {_f(fb['encode_s']['p50'], 2)} | {_f(fb['encode_s']['p95'], 2)} | {fb['runs']} |",
                f"| model load (s) | {_f(fb['model_load_s']['p50'], 2)} | {_f(fb['model_load_s']['p95'], 2)} | {fb['runs']} |",
                f"| full build incl. model load (s) | {_f(fb['build_with_model_load_s']['p50'], 2)} | {_f(fb['build_with_model_load_s']['p95'], 2)} | {fb['runs']} |",
                f"| incremental rebuild, one small document edited (s) | {_f(inc['rebuild_s']['p50'], 2)} | {_f(inc['rebuild_s']['p95'], 2)} | {inc['rebuild_s']['n']} |",
                f"| cold start to first answer, `qa ask` (s) | {_f(cold['seconds']['p50'], 2)} | {_f(cold['seconds']['p95'], 2)} | {cold['seconds']['n']} |",
                "", f"Build throughput: {_f(fb['chunks_per_s'])} chunks/s ({_f(fb['texts_embedded_per_s'])} texts embedded/s, "
                f"chunks + sentences). Index on disk {fb['index_bytes'] / 2**20:.1f} MB, embedding cache {fb['cache_bytes'] / 2**20:.1f} MB.",
                "", f"| query latency, warm, in process (ms) | p50 | p95 | p99 | n |", "|---|---:|---:|---:|---:|"]
        for m in MODES:
            v = q["latency_ms"][m]
            out.append(f"| {m} | {_f(v['p50'], 2)} | {_f(v['p95'], 2)} | {_f(v['p99'], 2)} | {v['n']} |")
        out += [f"| (query embedding alone) | {_f(q['query_embed_ms']['p50'], 2)} | {_f(q['query_embed_ms']['p95'], 2)} | {_f(q['query_embed_ms']['p99'], 2)} | {q['query_embed_ms']['n']} |",
                "", "| peak resident memory (MB) | |", "|---|---:|",
                f"| full build process | {_f(fb['peak_rss_mb']['p50'], 0)} |",
                f"| query process (model + index, after {q['questions'] * q['reps'] * 3} queries) | {_f(q['peak_rss_mb'], 0)} |",
                f"| `qa ask` process | {_f(cold['peak_rss_mb']['p50'], 0)} |", ""]
    g = r.get("growth")
    if g:
        out += ["### Growth (synthetic collections from the seed text)", "",
                "| chunks | docs | dense index | build, empty cache (s) | of which embedding (s) | index on disk (MB) | query process peak RSS (MB) | build peak RSS (MB) | hybrid p50 / p95 (ms) | dense p50 / p95 (ms) | bm25 p50 / p95 (ms) |",
                "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in g["sizes"]:
            lat = row["latency_ms"]
            est = "*" if row.get("embedding") == "approximated" else ""
            out.append(
                f"| {row['chunks']:,} | {row['documents']:,} | {row['dense_index']} | {_f(row['build_s_cold'])}{est} | {_f(row['encode_s_cold'])}{est} | "
                f"{row['index_bytes'] / 2**20:.1f} | {_f(row['query_peak_rss_mb'], 0)} | {_f(row['build_peak_rss_mb'], 0)} | "
                + " | ".join(f"{_f(lat[m]['p50'], 1)} / {_f(lat[m]['p95'], 1)}" for m in MODES) + " |")
        if any(row.get("embedding") == "approximated" for row in g["sizes"]):
            out += ["", "\\* embedding time extrapolated from the texts/s of the largest size embedded for real "
                    "(`--approx-embed-above`); the rest of that build was run and timed."]
        out.append("")
    h = r.get("ann")
    if h:
        out += [f"### Approximate dense index against exact search ({h['vectors']:,} vectors, {h['queries']} queries)", ""]
        b = h.get("built_index")
        if b:
            out += [f"Index as built by `qa index`: IVF, {b['nlist']} cells, {b['nprobe']} probed: recall@10 {b['recall@10']:.4f} "
                    f"(tie-tolerant {b['score_recall@10']:.4f}), recall@100 {b['recall@100']:.4f}, "
                    f"{b['ms_per_query_k100']:.2f} ms/query (k=100) against {h['flat_ms_per_query_k100']:.2f} ms exact.", ""]
        out += ["| index | settings | recall@10 | tie-tolerant recall@10 | recall@100 | ms/query k=100 |", "|---|---|---:|---:|---:|---:|"]
        for x in h.get("ivf_sweep", []):
            out.append(f"| IVF | {x['nlist']} cells, nprobe {x['nprobe']} | {x['recall@10']:.4f} | {x['score_recall@10']:.4f} | "
                       f"{x['recall@100']:.4f} | {x['ms_per_query_k100']:.2f} |")
        for x in h.get("hnsw_sweep", []):
            out.append(f"| HNSW | M {x['M']}, efConstruction {x['efConstruction']}, efSearch {x['efSearch']} (add {x['build_s']:.0f} s) | "
                       f"{x['recall@10']:.4f} | {x['score_recall@10']:.4f} | {x['recall@100']:.4f} | {x['ms_per_query_k100']:.2f} |")
        out += ["", "| exact (flat) vectors | ms/query k=100 |", "|---:|---:|"]
        out += [f"| {x['vectors']:,} | {x['ms_per_query_k100']:.2f} |" for x in h["flat_by_size"]]
        out.append("")
    return "\n".join(out)


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = r["growth"]["sizes"]
    n = [row["chunks"] for row in rows]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for m, style, color in zip(MODES, ("o-", "s--", "^:"), ("C0", "C1", "C2")):
        ax[0].plot(n, [row["latency_ms"][m]["p50"] for row in rows], style, color=color, label=f"{m} p50")
        ax[0].plot(n, [row["latency_ms"][m]["p95"] for row in rows], style, color=color, alpha=0.35, label=f"{m} p95")
    ax[0].axhline(50, color="grey", lw=0.8, ls="--")
    ax[0].set(title="Query latency (warm, in process)", ylabel="ms")
    ax[1].plot(n, [row["build_s_cold"] for row in rows], "o-", label="full build, empty cache")
    ax[1].plot(n, [row["encode_s_cold"] for row in rows], "s--", label="of which embedding")
    for row in rows:
        if row.get("embedding") == "approximated":
            ax[1].annotate("embedding time\nextrapolated", (row["chunks"], row["build_s_cold"]), fontsize=7,
                           textcoords="offset points", xytext=(-70, -25))
    ax[1].set(title="Index build time", ylabel="seconds", yscale="log")
    ax[2].plot(n, [row["query_peak_rss_mb"] for row in rows], "o-", label="query process")
    ax[2].plot(n, [row["build_peak_rss_mb"] for row in rows], "s--", label="build process")
    ax[2].plot(n, [row["index_bytes"] / 2**20 for row in rows], "^:", label="index on disk")
    ax[2].axhline(2048, color="grey", lw=0.8, ls="--")
    ax[2].set(title="Memory and disk", ylabel="MB", yscale="log")
    for a in ax:
        a.set(xscale="log", xlabel="chunks in the collection")
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command --------------------------------------------------------------------------------------


def add_arguments(p) -> None:
    p.add_argument("--quick", action="store_true", help="tiny, fast run that checks the benchmark works (CI)")
    p.add_argument("--sections", default="seed,growth,ann", help="comma-separated: seed, growth, ann (approximate-index recall)")
    p.add_argument("--corpus", default=str(config.corpus_dir()), help="seed corpus folder (default: seeds/)")
    p.add_argument("--sizes", default="1000,10000,100000", help="growth collection sizes in chunks")
    p.add_argument("--runs", type=int, default=3, help="full builds of the seed corpus")
    p.add_argument("--runs-incremental", type=int, default=5, help="incremental rebuilds")
    p.add_argument("--runs-cold", type=int, default=5, help="cold starts of `qa ask`")
    p.add_argument("--reps", type=int, default=5, help="passes over the questions per mode (growth: half)")
    p.add_argument("--questions", type=int, default=None, help="use only the first N eval questions")
    p.add_argument("--ann-threshold", type=int, default=None, help="override build.ANN_THRESHOLD for growth builds")
    p.add_argument("--approx-embed-above", type=int, default=None,
                   help="growth sizes above this many chunks embed chunks as the mean of their (real) sentence "
                   "vectors, and report the embedding time extrapolated from the last real size")
    p.add_argument("--hnsw-m", default="32", help="HNSW M values to compare with (efConstruction 80)")
    p.add_argument("--ef-search", default="64,128,256,512", help="HNSW efSearch values to compare with")
    p.add_argument("--out", help="results JSON (default: benchmarks/results.json; --quick: in the work folder)")
    p.add_argument("--plot", help="growth plot PNG (default: benchmarks/growth.png; --quick: in the work folder)")
    p.add_argument("--work", help="scratch folder (default: a new temporary folder, removed afterwards)")
    p.add_argument("--update", action="store_true", help="merge the sections run into an existing --out JSON")


def _save_partial(opt, section: str, value) -> None:
    opt._result[section] = value
    Path(opt.out).write_text(json.dumps(opt._result, indent=1, default=str), encoding="utf-8")


def main(args) -> int:
    from .build import versions

    opt = args
    keep = bool(opt.work)
    work = Path(opt.work or tempfile.mkdtemp(prefix="qa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if opt.quick:
        opt.sizes = "60,240" if opt.sizes == "1000,10000,100000" else opt.sizes
        opt.runs, opt.runs_incremental, opt.runs_cold, opt.reps = 1, 2, 1, 2
        opt.questions = opt.questions or 8
        opt.ann_threshold = opt.ann_threshold or 100
        opt.hnsw_m, opt.ef_search = "16", "16,64"
    opt.sizes = [int(x) for x in str(opt.sizes).split(",")] if isinstance(opt.sizes, str) else opt.sizes
    opt.hnsw_m = [int(x) for x in str(opt.hnsw_m).split(",")]
    opt.ef_search = [int(x) for x in str(opt.ef_search).split(",")]
    scratch = Path(tempfile.gettempdir())
    opt.out = opt.out or str(scratch / "qa-bench-quick.json" if opt.quick else OUT_DIR / "results.json")
    opt.plot = opt.plot or str(scratch / "qa-bench-quick.png" if opt.quick else OUT_DIR / "growth.png")
    if getattr(opt, "model", None):
        os.environ["QA_MODEL"] = opt.model
    sections = [s.strip() for s in opt.sections.split(",") if s.strip()]
    unknown = set(sections) - {"seed", "growth", "ann"}
    if unknown:
        raise ValueError(f"Unknown bench section(s) {', '.join(sorted(unknown))}; choose from seed, growth, ann")
    Path(opt.out).parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(Path(opt.out).read_text()) if opt.update and Path(opt.out).exists() else {}
    opt._result = old
    opt._result["meta"] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cores": os.cpu_count(), "quick": opt.quick,
        "command": "python -m qa bench " + " ".join(sys.argv[3:] if sys.argv[1:3] == ["-m", "qa"] else sys.argv[2:]),
        "loadavg_start": os.getloadavg(), "versions": versions(),
    }
    inproc = None
    if opt.quick:
        inproc, _ = _loaded_embedder()
    try:
        if "seed" in sections:
            _save_partial(opt, "seed", seed_section(opt, work, inproc))
        if "growth" in sections:
            _save_partial(opt, "growth", growth_section(opt, work, inproc))
        if "ann" in sections and opt._result.get("growth"):
            _save_partial(opt, "ann", ann_section(opt, opt._result["growth"], inproc))
        opt._result["meta"]["loadavg_end"] = os.getloadavg()
        _save_partial(opt, "meta", opt._result["meta"])
        if opt._result.get("growth"):
            plot(opt._result, Path(opt.plot))
        print(render(opt._result))
        print(f"\nresults: {opt.out}" + (f"\nplot: {opt.plot}" if opt._result.get("growth") else ""))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":  # a scenario in a child process: python -m qa.bench KIND JSON
    print(json.dumps(SCENARIOS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
