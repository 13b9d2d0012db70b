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

from .meters import disk_bytes
from .scenarios import run
from .synthetic import chunks_per_doc, sentence_pool, write_collection, write_short_docs
from .tables import fmt as _f
from .tables import table as _table


def scenario_ray_build(a: dict, shared=None) -> dict:
    """A full build of a.corpus on a fresh local Ray cluster of a.nodes nodes (a.cpus_per_node CPUs each)."""
    import ray
    from ray.cluster_utils import Cluster

    from ..build import builder
    from ..index import build_dirs
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
            with build_dirs.build_lock(index_dir):
                path = builder.build(Path(a["corpus"]), index_dir, emb, workers=workers)
            build_s = time.perf_counter() - t
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    m = build_dirs.read_manifest(path)
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


STORES = ("local", "milvus", "milvus-server")
"""The stores section's rows: the index folder's files; Milvus Lite as a file, opened in the query process; Milvus
Lite's gRPC server in a process of its own on loopback (qa/measure/milvus_server.py)."""


def scenario_store_publish(a: dict, shared=None) -> dict:
    """Publish the local build at a.index_dir to the Milvus at a.milvus_uri, timed."""
    from ..index import milvus_client, milvus_store, store
    from ..config import StoreSettings

    t = time.perf_counter()
    milvus_store.publish(StoreSettings(kind="milvus", milvus_uri=a["milvus_uri"]), store.load(Path(a["index_dir"])))
    publish_s = time.perf_counter() - t
    milvus_client.close(a["milvus_uri"])
    return {"publish_s": publish_s}


def scenario_store_query(a: dict, shared=None) -> dict:
    """Open the index at a.index_dir from store a.store (with a.publish, publishing the local build to a.milvus_uri
    first, timed apart), then time hybrid answers to a.questions eval questions, after 10 to warm up."""
    from ..config import StoreSettings
    from ..engine import Engine
    from .meters import anon_rss_mb, peak_rss_mb, rss_mb, summary
    from .scenarios import questions

    uri = a.get("milvus_uri", "")
    storage = StoreSettings(kind="local" if a["store"] == "local" else "milvus", milvus_uri=uri)
    publish_s = peak_publish = None
    if a.get("publish"):
        publish_s, peak_publish = scenario_store_publish(a)["publish_s"], peak_rss_mb()
    t = time.perf_counter()
    engine = Engine(corpus=a["corpus"], index_dir=a["index_dir"], storage=storage, build="never", embedder=shared)
    open_s = time.perf_counter() - t
    rss_open, anon_open = rss_mb(), anon_rss_mb()
    qs = questions(int(a["questions"]))
    for q in qs[:10]:
        engine.ask(q)
    latency = []
    for q in qs:
        t = time.perf_counter()
        engine.ask(q)
        latency.append((time.perf_counter() - t) * 1e3)
    if uri:
        from ..index import milvus_client

        milvus_client.close(uri)
    return {"store": a["store"], "chunks": len(engine.index.chunks), "publish_s": publish_s, "peak_publish_mb": peak_publish,
            "open_s": open_s, "latency_ms": summary(latency), "rss_open_mb": rss_open, "anon_rss_open_mb": anon_open,
            "rss_end_mb": rss_mb(), "anon_rss_end_mb": anon_rss_mb()}


def server_row(a: dict, data_dir: Path, inproc) -> dict:
    """The milvus-server row: start a Milvus Lite server on loopback with ``data_dir``, publish the local build to it
    from one process, answer from a fresh one, watching the server's memory during each; stop it, even on failure."""
    from .milvus_server import MilvusLiteServer

    with MilvusLiteServer(data_dir) as server:
        idle = server.memory()
        with server.watch() as publishing:
            p = run("store_publish", dict(a, milvus_uri=server.uri), inproc, module="qa.measure.scale")
        from ..index import milvus_client

        # a publish run in this process (--quick) leaves its client cached and connected: close it, so the query
        # process is measured on a connection of its own and nothing of ours is left pointing at a stopped server
        # (the stop once seen killed was the server not hearing SIGINT: milvus_server.SERVE)
        milvus_client.close(server.uri)
        on_disk = disk_bytes(data_dir)
        with server.watch() as answering:
            r = run("store_query", dict(a, store="milvus-server", milvus_uri=server.uri), inproc, module="qa.measure.scale")
    return dict(r, publish_s=p["publish_s"], peak_publish_mb=p["peak_rss_mb"], server={
        "start_s": server.started_s, "idle": idle, "publish": publishing.result, "queries": answering.result,
        "data_bytes_published": on_disk, "data_bytes_end": disk_bytes(data_dir), "stop": server.stop, "stop_s": server.stop_s})


def store_section(opt, work: Path, inproc) -> dict:
    """Query latency and memory of the local store and Milvus Lite on growth collections of ``opt.store_sizes`` chunks.

    The collections are the growth section's (seed sentences in new paragraphs); their chunk vectors are the mean of
    their sentences' real vectors (``--approx-embed-above``'s approximation), which costs the queries nothing and saves
    embedding every chunk; ColBERT vectors are computed for real up to ``--approx-late-above`` chunks, and past
    that borrowed word piece by word piece from those (build_scenarios._approximate_late). Each store answers in a child
    process of its own: ``milvus`` first publishes the local build to a new Milvus Lite file in that process (timed
    apart from the load); ``milvus-server`` publishes it from one process to a Milvus Lite server of its own (server_row)
    and answers from another."""
    unknown = set(opt.stores) - set(STORES)
    if unknown:
        raise ValueError(f"Unknown store(s) {', '.join(sorted(unknown))} for --stores; choose from {', '.join(STORES)}")
    pool = sentence_pool(Path(opt.corpus))
    cpd = chunks_per_doc(pool)
    rows = []
    for size in opt.store_sizes:
        folder = write_collection(work / "store-corpus", max(1, round(size / cpd)), pool)
        index_dir = work / f"store-{size}"
        approx_late = opt.approx_late_above if size > opt.approx_late_above else None
        b = run("build", {"corpus": str(folder), "index_dir": str(index_dir), "approx_embed": opt.corpus,
                          "approx_late": approx_late}, inproc)
        built = {"build_s": b["build_s"], "build_cpu_s": b.get("cpu_s"), "build_peak_rss_mb": b["peak_rss_mb"],
                 "index_bytes": b["index_bytes"], "target_chunks": size, "late_tokens": b["counts"].get("late_tokens"),
                 "late_real": b.get("late_real"), "late_approximated": b.get("late_approximated", 0),
                 "build_loadavg": b["loadavg"]}
        a = {"corpus": str(folder), "index_dir": str(index_dir), "questions": opt.store_questions}
        for store in (x for x in STORES if x in opt.stores):
            if store == "milvus-server":
                r = server_row(a, work / f"store-{size}-server", inproc)
            else:
                extra = {"milvus_uri": str(work / f"store-{size}.db"), "publish": True} if store == "milvus" else {}
                r = run("store_query", dict(a, store=store, **extra), inproc, module="qa.measure.scale")
            rows.append(dict(r, **built))
    return {"rows": rows}


def _mb(x) -> str:
    return _f(x, 0) if x == x else "-"  # None and nan (not measured) as "-"


def _peak(w: dict):
    """A watch's peak: VmHWM or the highest sample, whichever is larger (runs before there was a ``peak_mb`` have VmHWM)."""
    return w.get("peak_mb", w["hwm_mb"])


def render_stores(st: dict) -> list[str]:
    rows = [(x["store"], f"{x['chunks']:,}" + ("*" if x.get("late_approximated") else ""),
             f"{x['late_tokens']:,}" if x.get("late_tokens") is not None else "-",
             _f(x["publish_s"]) if x.get("publish_s") is not None else "-", _f(x["open_s"]),
             _f(x["latency_ms"]["p50"]), _f(x["latency_ms"]["p95"]), str(x["latency_ms"]["n"]), _mb(x["rss_open_mb"]),
             _mb(x["peak_rss_mb"]), _mb(x.get("anon_rss_end_mb")), _f(x.get("cpu_s")),
             _mb(_peak(x["server"]["queries"])) if x.get("server") else "-") for x in st["rows"]]
    out = _table("Stores at scale: hybrid answers from a growth collection (chunk vectors approximated)",
                 ("store", "chunks", "ColBERT token vectors", "publish (s)", "open (s)", "p50 (ms)", "p95 (ms)", "questions",
                  "RSS after open (MB)", "peak RSS (MB)", "own (anonymous) RSS at the end (MB)",
                  "query process CPU: models, open, questions (s)", "server peak RSS, publish included (MB)"), rows)
    if any(x.get("late_approximated") for x in st["rows"]):
        out += ["*: ColBERT vectors of all but the first chunks borrowed word piece by word piece (`--approx-late-above`)", ""]
    servers = [x for x in st["rows"] if x.get("server")]
    if servers:
        out += _table("Milvus Lite server process (VmRSS polled every 0.25 s; publish peak: the larger of VmHWM and the samples)",
                      ("chunks", "start (s)", "RSS idle (MB)", "publish: RSS max / peak (MB)", "open and questions: RSS max / at the end (MB)",
                       "CPU: publish / query process's life (s)",
                       "data folder after publish / at the end (MB)", "publishing process peak RSS (MB)",
                       "query process own RSS after open (MB)", "stop"),
                      [(f"{x['chunks']:,}", _f(v["start_s"]), _mb(v["idle"]["rss_mb"]),
                        f"{_mb(v['publish']['rss_max_mb'])} / {_mb(_peak(v['publish']))}",
                        f"{_mb(v['queries']['rss_max_mb'])} / {_mb(v['queries']['rss_end_mb'])}",
                        f"{_f(v['publish'].get('cpu_s'))} / {_f(v['queries'].get('cpu_s'))}",
                        f"{v['data_bytes_published'] / 2**20:,.0f} / {v['data_bytes_end'] / 2**20:,.0f}",
                        _mb(x["peak_publish_mb"]), _mb(x.get("anon_rss_open_mb")), f"{v['stop']} ({_f(v['stop_s'])} s)")
                       for x in servers for v in [x["server"]]])
    builds = {x["target_chunks"]: x for x in st["rows"]}.values()
    out += _table("Their builds (model loaded, empty cache; chunk vectors approximated)",
                  ("chunks", "ColBERT: encoded / borrowed", "build (s)", "CPU (s)", "peak RSS (MB)", "index on disk (MB)",
                   "load average start / end"),
                  [(f"{x['chunks']:,}", f"{x['late_real'] if x.get('late_real') is not None else x['chunks']:,} / "
                    f"{x.get('late_approximated', 0):,}", _f(x["build_s"]), _f(x.get("build_cpu_s")), _mb(x["build_peak_rss_mb"]),
                    f"{x['index_bytes'] / 2**20:,.0f}", " / ".join(map(str, x.get("build_loadavg", []))))
                   for x in builds if "build_peak_rss_mb" in x])
    return out


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


SCENARIOS = {"ray_build": scenario_ray_build, "store_publish": scenario_store_publish, "store_query": scenario_store_query}

if __name__ == "__main__":  # a scenario in a child process: python -m qa.measure.scale KIND JSON
    print(json.dumps(SCENARIOS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
