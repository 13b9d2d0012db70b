"""The bench's scale sections: build rate in one process against Ray with 1 and 2 local worker nodes (scale), and
query latency and memory of the local store against Milvus Lite on larger collections (stores).

Every build indexes the same generated folder of short documents (abstract-sized,
as in the build_rate section) into an empty index folder, models loaded first, so
the figure is the build's own: read, chunk, embed, ColBERT vectors, write. Each
Ray node is a ``ray.cluster_utils.Cluster`` node on this machine with
``--cpus-per-node`` CPUs and one worker per CPU; on a machine of two cores, two
one-CPU nodes share the cores the single process uses, so the per-worker rate is
the figure that carries to a real cluster (each added core adds about that much,
as long as the driver keeps up with reading and chunking).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .scenarios import chunks_per_doc, disk_bytes, run, sentence_pool, write_collection, write_short_docs
from .tables import fmt as _f
from .tables import table as _table


def scenario_ray_build(a: dict, shared=None) -> dict:
    """A full build of a.corpus on a fresh local Ray cluster of a.nodes nodes (a.cpus_per_node CPUs each)."""
    import ray
    from ray.cluster_utils import Cluster

    from ..build import builder
    from ..index import store
    from ..config import RaySettings
    from ..models.embed import Embedder
    from ..build.ray_workers import RayWorkers

    t = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": int(a["cpus_per_node"]), "include_dashboard": False})
    for _ in range(int(a["nodes"]) - 1):
        cluster.add_node(num_cpus=int(a["cpus_per_node"]))
    cluster.wait_for_nodes()
    cluster_s = time.perf_counter() - t
    emb = Embedder()
    emb.model  # the driver counts word pieces while chunking: loaded before the clock, as in the single-process build
    lines: list[str] = []
    try:
        with RayWorkers(RaySettings(address=cluster.address), emb.name, report=lines.append) as workers:
            t = time.perf_counter()
            workers.warm()
            warm_s = time.perf_counter() - t
            where = workers.where()
            t = time.perf_counter()
            index_dir = Path(a["index_dir"])
            with store.build_lock(index_dir):
                path = builder.build(Path(a["corpus"]), index_dir, emb, workers=workers)
            build_s = time.perf_counter() - t
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    m = store.read_manifest(path)
    return {"nodes": int(a["nodes"]), "workers": len(where), "cluster_start_s": cluster_s, "warm_s": warm_s,
            "build_s": build_s, "counts": m["counts"], "node_lines": lines}


def scale_section(opt, work: Path, inproc) -> dict:
    """Documents per second on the same folder: this process, then Ray on 1 and 2 local nodes."""
    pool = sentence_pool(Path(opt.corpus))
    folder = write_short_docs(work / "scale-docs", opt.scale_docs, pool)
    mb = disk_bytes(folder) / 1e6
    rows = []
    b = run("build", {"corpus": str(folder), "index_dir": str(work / "scale-local")}, inproc)
    rows.append({"name": "one process", "nodes": 0, "workers": 0, "build_s": b["build_s"], "counts": b["counts"],
                 "startup_s": b["model_load_s"], "peak_rss_mb": b["peak_rss_mb"], "loadavg": b["loadavg"]})
    for nodes in opt.ray_nodes:
        r = run("ray_build", {"corpus": str(folder), "index_dir": str(work / f"scale-ray-{nodes}"), "nodes": nodes,
                              "cpus_per_node": opt.cpus_per_node}, module="qa.measure.scale")  # a child process: it starts a cluster
        rows.append({"name": f"Ray, {nodes} local node(s)", "nodes": nodes, "workers": r["workers"], "build_s": r["build_s"],
                     "counts": r["counts"], "startup_s": r["cluster_start_s"] + r["warm_s"], "peak_rss_mb": r["peak_rss_mb"],
                     "node_lines": r["node_lines"], "loadavg": r["loadavg"]})
    for row in rows:
        row["docs_per_s"] = row["counts"]["documents"] / row["build_s"]
        row["docs_per_s_per_worker"] = row["docs_per_s"] / row["workers"] if row["workers"] else None
    return {"documents": opt.scale_docs, "mb": mb, "cpus_per_node": opt.cpus_per_node, "rows": rows}


def scenario_store_query(a: dict, shared=None) -> dict:
    """Open the index at a.index_dir from store a.store (Milvus: publishing the local build to a.milvus_uri first,
    timed apart), then time hybrid answers to a.questions eval questions, after 10 to warm up."""
    from ..index import milvus_store, store
    from ..config import StoreSettings
    from ..engine import Engine
    from .scenarios import peak_rss_mb, questions, rss_mb, summary

    storage = StoreSettings(kind=a["store"], milvus_uri=a.get("milvus_uri", ""))
    publish_s = peak_publish = None
    if a["store"] == "milvus":
        t = time.perf_counter()
        milvus_store.publish(storage, store.load(Path(a["index_dir"])))
        publish_s, peak_publish = time.perf_counter() - t, peak_rss_mb()
    t = time.perf_counter()
    engine = Engine(corpus=a["corpus"], index_dir=a["index_dir"], storage=storage, build="never")
    open_s = time.perf_counter() - t
    rss_open = rss_mb()
    qs = questions(int(a["questions"]))
    for q in qs[:10]:
        engine.ask(q)
    latency = []
    for q in qs:
        t = time.perf_counter()
        engine.ask(q)
        latency.append((time.perf_counter() - t) * 1e3)
    return {"store": a["store"], "chunks": len(engine.index.chunks), "publish_s": publish_s, "peak_publish_mb": peak_publish,
            "open_s": open_s, "latency_ms": summary(latency), "rss_open_mb": rss_open, "rss_end_mb": rss_mb(),
            "anon_rss_end_mb": anon_rss_mb()}


def anon_rss_mb() -> float:
    """Resident memory of this process that is its own (RssAnon): without the pages of files it maps, such as
    large token vectors (store.read_late), which the kernel shares with its page cache and can drop at will."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def store_section(opt, work: Path, inproc) -> dict:
    """Query latency and memory of the local store and Milvus Lite on growth collections of ``opt.store_sizes`` chunks.

    The collections are the growth section's (seed sentences in new paragraphs); their chunk vectors are the mean of
    their sentences' real vectors (``--approx-embed-above``'s approximation), which costs the queries nothing and saves
    embedding every chunk; ColBERT vectors are computed for real up to ``--approx-late-above`` chunks, and past
    that borrowed word piece by word piece from those (scenarios._approximate_late). Each store answers in a child process of its own;
    the Milvus one first publishes the local build to a new Milvus Lite file (timed apart from the load)."""
    pool = sentence_pool(Path(opt.corpus))
    cpd = chunks_per_doc(pool)
    rows = []
    for size in opt.store_sizes:
        folder = write_collection(work / "store-corpus", max(1, round(size / cpd)), pool)
        index_dir = work / f"store-{size}"
        approx_late = opt.approx_late_above if size > opt.approx_late_above else None
        b = run("build", {"corpus": str(folder), "index_dir": str(index_dir), "approx_embed": opt.corpus,
                          "approx_late": approx_late}, inproc)
        a = {"corpus": str(folder), "index_dir": str(index_dir), "questions": opt.store_questions}
        for store, extra in (("local", {}), ("milvus", {"milvus_uri": str(work / f"store-{size}.db")})):
            if store not in opt.stores:
                continue
            r = run("store_query", dict(a, store=store, **extra), module="qa.measure.scale")
            rows.append(dict(r, build_s=b["build_s"], target_chunks=size, late_tokens=b["counts"].get("late_tokens"),
                             late_approximated=b.get("late_approximated", 0)))
    return {"rows": rows}


def render_stores(st: dict) -> list[str]:
    rows = [(x["store"], f"{x['chunks']:,}" + ("*" if x.get("late_approximated") else ""), f"{x['late_tokens']:,}" if x.get("late_tokens") is not None else "-",
             _f(x.get("publish_s")) if x.get("publish_s") is not None else "-", _f(x["open_s"]),
             _f(x["latency_ms"]["p50"]), _f(x["latency_ms"]["p95"]), str(x["latency_ms"]["n"]), _f(x["rss_open_mb"], 0),
             _f(x["peak_rss_mb"], 0), _f(x.get("anon_rss_end_mb"), 0) if x.get("anon_rss_end_mb") else "-") for x in st["rows"]]
    return _table("Stores at scale: hybrid answers from a growth collection (chunk vectors approximated)",
                  ("store", "chunks", "ColBERT token vectors", "publish (s)", "open (s)", "p50 (ms)", "p95 (ms)", "questions",
                   "RSS after open (MB)", "peak RSS (MB)", "own (anonymous) RSS at the end (MB)"), rows) + (
        ["*: ColBERT vectors of all but the first chunks borrowed word piece by word piece (`--approx-late-above`)", ""]
        if any(x.get("late_approximated") for x in st["rows"]) else [])


def render(sc: dict) -> list[str]:
    rows = [(x["name"], str(x["workers"] or "-"), f"{x['counts']['documents']:,}", f"{x['counts']['chunks']:,}",
             _f(x["startup_s"]), _f(x["build_s"]), _f(x["docs_per_s"], 2), _f(x["docs_per_s_per_worker"], 2), _f(x["peak_rss_mb"], 0))
            for x in sc["rows"]]
    out = _table(f"Scale: build rate on {sc['documents']:,} short documents ({sc['mb']:.2f} MB), "
                 f"{sc['cpus_per_node']} CPU per Ray node, one worker per CPU",
                 ("where", "Ray workers", "documents", "chunks", "start-up: models (+ cluster) (s)", "build (s)",
                  "documents/s", "documents/s per worker", "driver peak RSS (MB)"), rows)
    for x in sc["rows"]:
        last = {line.split(" on Ray: ")[0]: line for line in x.get("node_lines", [])}  # each stage's totals: its last line
        out += [f"- {x['name']}: {line}" for line in last.values()]
    return out + [""]


SCENARIOS = {"ray_build": scenario_ray_build, "store_query": scenario_store_query}

if __name__ == "__main__":  # a scenario in a child process: python -m qa.measure.scale KIND JSON
    print(json.dumps(SCENARIOS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
