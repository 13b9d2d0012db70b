"""The build rate section: documents per second, end to end and per build stage, on short documents.

Generated abstract-sized documents, the seeds and, with ``--scifact DIR``, BEIR SciFact's real abstracts, whose
built index is also searched and scored (qa/measure/beir.py). Each build runs in a child process from an empty
index folder with the model loaded (qa/measure/build_scenarios.py); the builder's own stage timings (manifest
``seconds.stages``) split its time.
"""

from __future__ import annotations

from pathlib import Path

from . import beir
from .build_scenarios import build_options
from .meters import disk_bytes
from .scenarios import run
from .synthetic import sentence_pool, write_short_docs
from .tables import fmt as _f
from .tables import table as _table


def build_rate_section(opt, work: Path, inproc) -> dict:
    """Documents per second, end to end (read, chunk, embed, ColBERT vectors, write) and per build stage, model
    loaded, empty cache: a generated folder of short documents (abstract-sized; none with ``--short-docs 0``), the
    seeds and, with ``--scifact DIR``, BEIR SciFact's abstracts with the nDCG@10 of the built index (qa/measure/beir.py)."""
    if opt.scifact:
        beir.files(Path(opt.scifact))  # the data is there, or one line on where to get it, before any build
    sources = []
    if opt.short_docs > 0:
        sources.append(("short documents", write_short_docs(work / "short-docs", opt.short_docs, sentence_pool(Path(opt.corpus)))))
    sources.append(("seeds", Path(opt.corpus)))
    how = build_options(opt)
    rows = [build_row(name, corpus, run("build", {"corpus": str(corpus), "index_dir": str(work / f"rate-{corpus.name}"), **how},
                                        inproc)) for name, corpus in sources]
    if opt.scifact:
        name, folder, b, quality = beir.scifact_build(opt, work, inproc)
        rows.append(dict(build_row(name, folder, b), quality=quality))
    return {"rows": rows}


def build_row(name: str, corpus: Path, b: dict) -> dict:
    """One row of the section from a build scenario's result ``b`` on the folder ``corpus``."""
    n, mb = b["counts"]["documents"], disk_bytes(corpus) / 1e6
    return {"name": name, "documents": n, "chunks": b["counts"]["chunks"], "sentences": b["counts"]["sentences"],
            "mb": mb, "build_s": b["build_s"], "encode_s": b["encode_s"], "model_load_s": b["model_load_s"],
            "docs_per_s": n / b["build_s"], "s_per_mb": b["build_s"] / max(mb, 1e-9), "peak_rss_mb": b["peak_rss_mb"],
            "cpu_s": b.get("cpu_s"), "loadavg": b["loadavg"], "stages_s": b.get("stages_s") or {},
            "texts_embedded": b["counts"].get("embedded"), "sentence_vectors": b.get("sentence_vectors"),
            "chunk_vectors": b.get("chunk_vectors")}


STAGE_NAMES = (("read", "read"), ("chunk", "chunk"), ("embed", "MiniLM embed"), ("late", "ColBERT token vectors"),
               ("codec_train", "... of which codec training"), ("second", "bge vectors"), ("write_records", "write records"),
               ("dense_index", "FAISS"),
               ("bm25", "BM25"), ("write_indexes", "write indexes"))
"""The builder's stage timings (manifest ``seconds.stages``), in build order, and how the report names them."""


def render(br: dict) -> list[str]:
    rows = br["rows"]
    out = _table("Build rate (model loaded, empty cache)",
                 ("corpus", "documents", "chunks", "sentences", "MB", "build (s)", "of which MiniLM embedding (s)",
                  "documents/s", "s per MB", "peak RSS (MB)"),
                 [(x["name"], f"{x['documents']:,}", f"{x['chunks']:,}", f"{x['sentences']:,}", f"{x['mb']:.2f}",
                   _f(x["build_s"]), _f(x["encode_s"]), _f(x["docs_per_s"], 2), _f(x["s_per_mb"]), _f(x["peak_rss_mb"], 0))
                  for x in rows])
    staged = [x for x in rows if x.get("stages_s")]
    if staged:
        def cell(x, key):
            s_ = x["stages_s"].get(key)
            if s_ is None:
                return "-"
            if s_ < 0.005:  # too short to time as a rate
                return f"{_f(s_, 3)} s"
            rate = x["documents"] / s_
            return f"{_f(s_, 2)} s, {_f(rate, 1 if rate < 10 else 0)}/s"

        names = [(k, label) for k, label in STAGE_NAMES if any(k in x["stages_s"] for x in staged)]
        body = [[label] + [cell(x, k) for x in staged] for k, label in names]
        body.append(["publish (hash, rename) and the rest"] + [
            f"{_f(x['build_s'] - sum(v for k, v in x['stages_s'].items() if k != 'codec_train'), 2)} s" for x in staged])
        out += _table("Build stages: seconds, documents/s", ["stage"] + [x["name"] for x in staged], body)
    for x in rows:
        q = x.get("quality")
        if q:
            modes = [m for m in q if isinstance(q[m], dict) and "ndcg@10" in q[m]]
            out += _table(f"Retrieval quality, {x['name']}: {q['queries']} test queries, {q['qrels']} relevant documents"
                          + (" (subset: not comparable with the published figure)" if q["subset"] else ""),
                          ("mode", "nDCG@10", "published BM25 nDCG@10", "ms per query p50 / p95", "queries found nothing"),
                          [(m, f"{q[m]['ndcg@10']:.3f}", f"{q['published_bm25_ndcg@10']:.3f}",
                            f"{_f(q[m]['ms']['p50'])} / {_f(q[m]['ms']['p95'])}", str(q[m]["failed"])) for m in modes])
    return out
