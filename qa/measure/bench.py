"""Benchmarks: build time, incremental rebuild, cold start, query latency, memory, growth, ANN recall, scale.

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
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import config
from . import build_rate, pdf_bench, scale
from .tables import fmt as _f
from .tables import table as _table
from .meters import disk_bytes, loaded_embedder, summary
from .query_scenarios import MODES
from .scenarios import OUT_DIR, cold_start, questions, run
from .synthetic import chunks_per_doc, sentence_pool, write_collection, write_long_text



# -- sections -------------------------------------------------------------------------------------


def seed_section(opt, work: Path, inproc) -> dict:
    corpus = Path(opt.corpus)
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
    query = run("query", {"corpus": str(corpus), "index_dir": str(built), "questions": qs, "reps": opt.reps,
                                "warmup": opt.warmup}, inproc)
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
                          "reps": max(1, opt.reps // 2), "warmup": opt.warmup}, inproc)
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


def chunking_section(opt, work: Path, inproc) -> dict:
    """Reading + chunking speed (MB/s) on the seeds and on single generated texts of growing size, each in a
    child process whose peak memory is its own: memory must grow with the file, not with its square."""
    pool = sentence_pool(Path(opt.corpus))
    rows = [dict(run("chunking", {"path": str(Path(opt.corpus))}, inproc), name="seeds")]
    for mb in opt.chunk_mb:
        path = write_long_text(work / f"long-{mb}MB.txt", mb, pool)
        rows.append(dict(run("chunking", {"path": str(path)}, inproc), name=f"one {mb:g} MB text"))
        path.unlink()
    return {"rows": rows}


def ann_section(opt, growth: dict, inproc) -> dict:
    last = growth["sizes"][-1]
    a = {"build": last["build_path"], "questions": questions(opt.questions), "M": opt.hnsw_m, "efSearch": opt.ef_search,
         "flat_sizes": [r["chunks"] for r in growth["sizes"]] + [25_000, 50_000]}
    return run("recall", a, inproc)


# -- report ---------------------------------------------------------------------------------------


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
                "", "| query latency, warm, in process (ms) | p50 | p95 | p99 | n |", "|---|---:|---:|---:|---:|"]
        for m in MODES:
            v = q["latency_ms"][m]
            out.append(f"| {m} | {_f(v['p50'], 2)} | {_f(v['p95'], 2)} | {_f(v['p99'], 2)} | {v['n']} |")
        for name, label in (("embed_ms", "hybrid stage: question embedding"), ("search_ms", "hybrid stage: first stage (dense, BM25, ColBERT, bge, fusion)"),
                            ("rerank_ms", "hybrid stage: cross-encoder rerank"), ("sentences_ms", "hybrid stage: sentence scoring"),
                            ("total_ms", "hybrid: whole Engine.ask")):
            v = q.get("stages_ms", {}).get(name) or q["query_embed_ms"]
            out.append(f"| {label} | {_f(v['p50'], 2)} | {_f(v['p95'], 2)} | {_f(v['p99'], 2)} | {v['n']} |")
        out += [
                "", "| peak resident memory (MB) | |", "|---|---:|",
                f"| full build process | {_f(fb['peak_rss_mb']['p50'], 0)} |",
                f"| query process (model + index, after {q['questions'] * q['reps'] * 3} queries) | {_f(q['peak_rss_mb'], 0)} |",
                f"| `qa ask` process | {_f(cold['peak_rss_mb']['p50'], 0)} |", ""]
    ch = r.get("chunking")
    if ch:
        out += _table("Reading and chunking (one child process per row)",
                      ("input", "MB", "chunks", "read + structure (MB/s)", "chunking (MB/s)",
                       "process RSS before / after (MB)", "peak RSS (MB)"),
                      [(x["name"], f"{x['mb']:.2f}", f"{x['chunks']:,}", _f(x["load_mb_per_s"], 2), _f(x["chunk_mb_per_s"], 2),
                        f"{_f(x['rss_before_mb'], 0)} / {_f(x['rss_after_mb'], 0)}", _f(x["peak_rss_mb"], 0)) for x in ch["rows"]])
    br = r.get("build_rate")
    if br:
        out += build_rate.render(br)
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
    if r.get("scale"):
        out += scale.render(r["scale"])
    if r.get("stores"):
        out += scale.render_stores(r["stores"])
    if r.get("pdf"):
        out += pdf_bench.render(r["pdf"])
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
    p.add_argument("--sections", default="seed,chunking,build_rate,growth,ann",
                   help="comma-separated: seed, chunking, build_rate, growth, ann (approximate-index recall), "
                   "scale (build rate in one process against Ray on local nodes), stores (local against a Milvus Lite "
                   "server at --store-sizes), pdf (reading, OCR and page rendering; no model); the last three are not in the default run")
    p.add_argument("--chunk-mb", default="1,10,50", help="sizes (MB) of the single generated texts the chunking section reads")
    p.add_argument("--short-docs", type=int, default=2000, help="generated short documents the build_rate section indexes (0: none)")
    p.add_argument("--scifact", metavar="DIR", help="also build BEIR SciFact from DIR (corpus.jsonl, queries.jsonl, qrels/test.tsv; "
                   "benchmarks/README.md says where to get them) in the build_rate section, and score its nDCG@10")
    p.add_argument("--scifact-docs", type=int, default=None, metavar="N",
                   help="only N SciFact documents: those of test queries (up to half of N), then others; scores only the "
                   "queries whose relevant documents are all kept")
    p.add_argument("--scifact-modes", default="hybrid,bm25", help="retrieval modes SciFact's queries are asked in")
    p.add_argument("--scale-docs", type=int, default=400, help="short documents the scale section builds each way")
    p.add_argument("--ray-nodes", default="1,2", help="local Ray cluster sizes (nodes) the scale section builds on")
    p.add_argument("--cpus-per-node", type=int, default=1, help="CPUs (= workers) of each local Ray node in the scale section")
    p.add_argument("--store-sizes", default="10000", help="growth collection sizes (chunks) the stores section queries")
    p.add_argument("--store-questions", type=int, default=60, help="eval questions each store answers in the stores section")
    p.add_argument("--stores", default="local,milvus-server",
                   help="the stores the stores section queries: local (the index folder's files), milvus (a Milvus Lite "
                   "file, opened in the query process), milvus-server (Milvus Lite's server in a process of its own)")
    p.add_argument("--approx-late-above", type=int, default=20_000,
                   help="in the stores section, collections above this many chunks encode this many with ColBERT and give "
                   "the rest vectors borrowed word piece by word piece (their query cost is the same; marked in the report)")
    pdf_bench.add_arguments(p)
    p.add_argument("--corpus", default=str(config.corpus_dir()), help="seed corpus folder (default: seeds/)")
    p.add_argument("--sizes", default="1000,10000,100000", help="growth collection sizes in chunks")
    p.add_argument("--runs", type=int, default=3, help="full builds of the seed corpus")
    p.add_argument("--runs-incremental", type=int, default=5, help="incremental rebuilds")
    p.add_argument("--runs-cold", type=int, default=5, help="cold starts of `qa ask`")
    p.add_argument("--reps", type=int, default=5, help="passes over the questions per mode (growth: half)")
    p.add_argument("--warmup", type=int, default=20, help="questions asked once in each mode before latency is timed")
    p.add_argument("--questions", type=int, default=None, help="use only the first N eval questions")
    p.add_argument("--ann-threshold", type=int, default=None, help="IndexSettings.ann_threshold for growth builds")
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
    from ..build.builder import versions

    opt = args
    if getattr(opt, "store", None) == "milvus" or getattr(opt, "milvus_uri", None):
        raise ValueError("qa bench builds its own indexes and Milvus Lite files: leave out --store and --milvus-uri; "
                         "`--sections stores` compares the local store with Milvus Lite.")
    keep = bool(opt.work)
    work = Path(opt.work or tempfile.mkdtemp(prefix="qa-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if opt.quick:
        opt.sizes = "60,240" if opt.sizes == "1000,10000,100000" else opt.sizes
        opt.runs, opt.runs_incremental, opt.runs_cold, opt.reps = 1, 2, 1, 1
        opt.warmup = 1  # each ask is most of a second on an AVX2-only CPU: 36 asks instead of 63 in a quick run
        opt.questions = opt.questions or 3  # asks were most of a quick run (8 questions: 48 in the seed section, 48 in growth)
        opt.ann_threshold = opt.ann_threshold or 100
        opt.hnsw_m, opt.ef_search = "16", "16,64"
        opt.chunk_mb = "0.05,0.2" if opt.chunk_mb == "1,10,50" else opt.chunk_mb
        opt.short_docs = min(opt.short_docs, 20)
        opt.scifact_docs = min(opt.scifact_docs or 40, 40)
        opt.store_sizes = "40" if opt.store_sizes == "10000" else opt.store_sizes
        opt.store_questions = min(opt.store_questions, 4)
        opt.pdf_runs, opt.ocr_runs, opt.render_pages = min(opt.pdf_runs, 2), 1, min(opt.render_pages, 3)
    opt.sizes = [int(x) for x in str(opt.sizes).split(",")] if isinstance(opt.sizes, str) else opt.sizes
    opt.chunk_mb = [float(x) for x in str(opt.chunk_mb).split(",")] if isinstance(opt.chunk_mb, str) else opt.chunk_mb
    opt.hnsw_m = [int(x) for x in str(opt.hnsw_m).split(",")]
    opt.ef_search = [int(x) for x in str(opt.ef_search).split(",")]
    opt.ray_nodes = [int(x) for x in str(opt.ray_nodes).split(",")]
    opt.store_sizes = [int(x) for x in str(opt.store_sizes).split(",")]
    opt.stores = [x.strip() for x in str(opt.stores).split(",") if x.strip()]
    opt.scifact_modes = [config.check_mode(x.strip()) for x in str(opt.scifact_modes).split(",") if x.strip()]
    scratch = Path(tempfile.gettempdir())
    opt.out = opt.out or str(scratch / "qa-bench-quick.json" if opt.quick else OUT_DIR / "results.json")
    opt.plot = opt.plot or str(scratch / "qa-bench-quick.png" if opt.quick else OUT_DIR / "growth.png")
    if getattr(opt, "model", None):
        os.environ["QA_MODEL"] = opt.model
    sections = [s.strip() for s in opt.sections.split(",") if s.strip()]
    known = ("seed", "chunking", "build_rate", "growth", "ann", "scale", "stores", "pdf")
    unknown = set(sections) - set(known)
    if unknown:
        raise ValueError(f"Unknown bench section(s) {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    if opt.scifact and "build_rate" not in sections:
        raise ValueError("--scifact is measured by the build_rate section: add build_rate to --sections")
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
        inproc, _ = loaded_embedder()
        small = work / "seed-small"  # the three small seed documents: seconds, not minutes
        small.mkdir(parents=True, exist_ok=True)
        for name in ("000_ca9353bd9b097081.txt", "001_86436277e955a737.txt", "004_5a4e078f2933e62d.txt", "catalog.toml"):
            shutil.copy(Path(opt.corpus) / name, small / name)
        opt.corpus = str(small)
    try:
        if "seed" in sections:
            _save_partial(opt, "seed", seed_section(opt, work, inproc))
        if "chunking" in sections:
            _save_partial(opt, "chunking", chunking_section(opt, work, inproc))
        if "build_rate" in sections:
            _save_partial(opt, "build_rate", build_rate.build_rate_section(opt, work, inproc))
        if "growth" in sections:
            _save_partial(opt, "growth", growth_section(opt, work, inproc))
        if "scale" in sections:
            _save_partial(opt, "scale", scale.scale_section(opt, work, inproc))
        if "stores" in sections:
            _save_partial(opt, "stores", scale.store_section(opt, work, inproc))
        if "pdf" in sections:
            _save_partial(opt, "pdf", pdf_bench.pdf_section(opt, work))
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

