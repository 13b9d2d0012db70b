"""A real corpus of short documents for the build rate section: BEIR SciFact, built and then searched.

SciFact (Wadden et al., 2020, in BEIR: Thakur et al., 2021) is 5,183 abstracts and 300 test claims, each with
the abstracts that support or refute it. ``qa bench --sections build_rate --scifact DIR`` turns the corpus into
a folder of documents (one ``.txt`` per abstract, its title as first line and in the folder's catalogue), builds
it like any folder (the builder's stage timings give documents/s per stage), then asks every test claim in each
mode and scores the documents that come back: nDCG@10, a document ranking where it is first found (its best
chunk), beside BEIR's published BM25.

The data never comes from the network at run time: ``DIR`` holds BEIR's files (GET_IT says where to get them).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadQuestionError, EvalSetError
from . import ranking

GET_IT = ("download scifact.zip from the BEIR benchmark (https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/"
          "datasets/scifact.zip; SciFact is CC BY-NC 2.0: measure with it, never commit it), unzip it outside the "
          "repository and pass the folder holding corpus.jsonl, queries.jsonl and qrels/test.tsv: "
          "qa bench --sections build_rate --scifact DIR")
PUBLISHED_BM25_NDCG10 = 0.665
"""BM25 (Elasticsearch, title and text) on SciFact test in the BEIR paper (Thakur et al., 2021, table 2)."""
CUTOFF = 10
SPLIT = "test"


@dataclass(frozen=True)
class BeirSet:
    """A BEIR corpus, its queries and one split's relevance judgements (only the relevant pairs)."""

    docs: dict[str, tuple[str, str]]  # id -> (title, text), in the corpus's order
    queries: dict[str, str]  # id -> text, the split's queries only
    qrels: dict[str, dict[str, int]]  # query id -> {document id: relevance > 0}


def _lines(path: Path) -> Iterable[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        yield from f


def files(folder: Path) -> dict[str, Path]:
    """corpus, queries and qrels of the BEIR folder ``folder`` (or its ``scifact/``, as the zip unpacks), or
    EvalSetError saying which is missing and where to get them."""
    folder = Path(folder)
    tried = []
    for base in (folder, folder / "scifact"):
        found = {"corpus": next((p for p in (base / "corpus.jsonl", base / "corpus.jsonl.gz") if p.is_file()), None),
                 "queries": next((p for p in (base / "queries.jsonl", base / "queries.jsonl.gz") if p.is_file()), None),
                 "qrels": base / "qrels" / f"{SPLIT}.tsv" if (base / "qrels" / f"{SPLIT}.tsv").is_file() else None}
        if all(found.values()):
            return found  # type: ignore[return-value]
        tried.append(found)
    found = max(tried, key=lambda f: sum(v is not None for v in f.values()))  # the folder that holds most of them
    missing = ", ".join(k for k, v in found.items() if v is None)
    raise EvalSetError(f"No BEIR SciFact files in {folder} ({missing} missing): {GET_IT}.")


def read(folder: Path) -> BeirSet:
    """The corpus, the test queries and their judgements; EvalSetError naming the line that is not BEIR's format."""
    where = files(folder)
    docs, queries, qrels = {}, {}, {}
    n = 0
    try:
        for n, line in enumerate(_lines(where["qrels"]), 1):
            cols = line.rstrip("\n").split("\t")
            if n == 1 and not cols[-1].lstrip("-").isdigit():
                continue  # the header: query-id, corpus-id, score
            if len(cols) == 3 and int(cols[2]) > 0:
                qrels.setdefault(cols[0], {})[cols[1]] = int(cols[2])
        for n, line in enumerate(_lines(where["corpus"]), 1):
            if line.strip():
                d = json.loads(line)
                docs[str(d["_id"])] = (str(d.get("title") or "").strip(), str(d["text"]))
        for n, line in enumerate(_lines(where["queries"]), 1):
            if line.strip():
                q = json.loads(line)
                if str(q["_id"]) in qrels:
                    queries[str(q["_id"])] = str(q["text"])
    except (ValueError, KeyError, OSError) as e:
        raise EvalSetError(f"{folder}: line {n} is not in BEIR's format ({e.__class__.__name__}: {e}); {GET_IT}.") from None
    qrels = {q: rel for q, rel in qrels.items() if q in queries}
    if not qrels:
        raise EvalSetError(f"{folder}: no {SPLIT} query has both its text and a relevant document; {GET_IT}.")
    return BeirSet(docs, queries, qrels)


def subset(data: BeirSet, max_docs: int | None) -> BeirSet:
    """At most ``max_docs`` documents: every document some kept query needs, taking queries in order while those
    documents fill at most half of ``max_docs`` (the rest are other documents, in the corpus's order, so most of a
    subset is not the answer to anything); the queries kept are all those whose relevant documents are all in it.
    None or a number past the corpus: all of it."""
    if not max_docs or max_docs >= len(data.docs):
        return data
    need: set[str] = set()
    for rel in data.qrels.values():
        if set(rel) <= data.docs.keys() and len(need | set(rel)) <= max_docs // 2:
            need |= set(rel)
    keep = list(need)
    keep += [d for d in data.docs if d not in need][: max_docs - len(keep)]
    kept = set(keep)
    docs = {d: v for d, v in data.docs.items() if d in kept}
    qrels = {q: rel for q, rel in data.qrels.items() if set(rel) <= kept}
    return BeirSet(docs, {q: data.queries[q] for q in qrels}, qrels)


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def write_documents(data: BeirSet, folder: Path) -> Path:
    """One ``ID.txt`` per document (its title, a blank line, its text) and a ``catalog.toml`` giving each its title
    (the loader takes a catalogue's title first: a first line over 120 characters would not be taken)."""
    folder.mkdir(parents=True, exist_ok=True)
    catalog = ["# BEIR SciFact, written by qa bench (qa/measure/beir.py)"]
    for d, (title, text) in data.docs.items():
        name = f"{d}.txt"
        (folder / name).write_text(f"{title}\n\n{text}\n" if title else f"{text}\n", encoding="utf-8")
        if title:
            catalog += ["", f"[{_toml_string(name)}]", f"title = {_toml_string(title)}"]
    (folder / "catalog.toml").write_text("\n".join(catalog) + "\n", encoding="utf-8")
    return folder


def doc_id(source: str) -> str:
    """The BEIR id of the document file ``source`` (``write_documents`` names each file after its id)."""
    return Path(source).stem


def document_ranking(sources: Iterable[str]) -> list[str]:
    """Document ids in the order their best (first) chunk comes, each once."""
    return list(dict.fromkeys(doc_id(s) for s in sources))


def ndcg(run: dict[str, list[str]], qrels: dict[str, dict[str, int]], k: int = CUTOFF) -> float:
    """Mean nDCG@k over the queries of ``qrels`` (a query missing from ``run`` scores 0), as trec_eval's ndcg_cut."""
    return ranking.ndcg(run, qrels, k)


# -- the scenario: a child process answers every query from the built index ----------------------


def scenario_beir_eval(a: dict, shared=None) -> dict:
    """Ask every query in a.eval_set (a JSON file: queries, qrels) in each of a.modes through ``Engine.ranked``
    (both stages, as ``qa ask``), keep the documents in the order their chunks come, score nDCG@10."""
    import numpy as np

    from ..engine import Engine
    from .build_scenarios import settings_for
    from .meters import loaded_embedder, summary

    given = json.loads(Path(a["eval_set"]).read_text(encoding="utf-8"))
    emb, _ = loaded_embedder(shared)
    engine = Engine(corpus=a["corpus"], index_dir=a["index_dir"], embedder=emb, build="never", settings=settings_for(a))
    k = engine.settings.retrieval.max_k  # passages asked for: the documents of the top 10 are among them
    out = {}
    for mode in a["modes"]:
        run, ms, failed = {}, [], 0
        for q, text in given["queries"].items():
            t = time.perf_counter()
            try:
                _, hits, _, _ = engine.ranked(text, k=k, mode=mode)
            except BadQuestionError:
                hits, failed = [], failed + 1
            ms.append((time.perf_counter() - t) * 1e3)
            run[q] = document_ranking(h.chunk.source for h in hits)
        out[mode] = {"ndcg@10": ndcg(run, given["qrels"]), "queries": len(run), "failed": failed,
                     "docs_per_query": float(np.mean([len(v) for v in run.values()])), "ms": summary(ms)}
    return {"passages_per_query": k, "modes": out}


SCENARIOS = {"beir_eval": scenario_beir_eval}


def scifact_build(opt, work: Path, inproc) -> tuple[str, Path, dict, dict]:
    """Build BEIR SciFact (or ``--scifact-docs`` of it) from a fresh index folder and score it: (the row's name,
    the folder of documents, the build scenario's result, the quality: nDCG@10 per mode) for the build rate
    section's SciFact row (qa/measure/build_rate.py)."""
    from .build_scenarios import build_options
    from .scenarios import run

    data = subset(read(Path(opt.scifact)), opt.scifact_docs)
    folder = write_documents(data, work / "scifact-docs")
    eval_set = work / "scifact-eval.json"  # a file, not the child's argument: the queries fill ~40 kB
    eval_set.write_text(json.dumps({"queries": data.queries, "qrels": data.qrels}), encoding="utf-8")
    how = build_options(opt)
    b = run("build", {"corpus": str(folder), "index_dir": str(work / "rate-scifact"), **how}, inproc)
    e = run("beir_eval", {"corpus": str(folder), "index_dir": str(work / "rate-scifact"), "eval_set": str(eval_set),
                          "modes": opt.scifact_modes, **how}, inproc, module="qa.measure.beir")
    name = "BEIR SciFact" + (f" (subset of {len(data.docs):,})" if opt.scifact_docs else "")
    quality = {"queries": len(data.queries), "qrels": sum(len(r) for r in data.qrels.values()),
               "published_bm25_ndcg@10": PUBLISHED_BM25_NDCG10, "subset": bool(opt.scifact_docs),
               "eval_loadavg": e["loadavg"], "passages_per_query": e["passages_per_query"], **e["modes"]}
    return name, folder, b, quality


if __name__ == "__main__":  # a scenario in a child process: python -m qa.measure.beir KIND JSON
    import sys

    print(json.dumps(SCENARIOS[sys.argv[1]](json.loads(sys.argv[2])), default=str))
