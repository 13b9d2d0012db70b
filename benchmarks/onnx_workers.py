"""One model run per core against one run on all cores: python benchmarks/onnx_workers.py

The INT8 ONNX models score one item per run (batching changes their outputs, qa/models/onnx_models.py). Such
a run on two intra-op threads leaves the second thread idle much of the time; two single-threaded runs
side by side (``onnx_models.parallel_map``) keep both cores busy. This prints, on the seed index:

* the cross-encoder on the first 5 passages of 40 eval questions (what ``Engine.ask`` reranks):
  one session on all cores, passages one after another, against one single-threaded run per core;
  p50/p95 per question over ``--repeats`` interleaved passes, and the largest score difference;
* ColBERT encoding of 120 seed chunks (what ``qa index`` does for every chunk): chunks per second
  both ways, and the largest difference in the vectors.

Needs a built index (``--index-dir``, default index/; built if missing). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa import Engine  # noqa: E402

from qa.models import late  # noqa: E402
from qa.models import onnx_models as om  # noqa: E402
from qa.ingest.chunk import clean  # noqa: E402
from qa.config import PROJECT_ROOT, RerankSettings, Settings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--index-dir", default=str(PROJECT_ROOT / "index"))
    p.add_argument("--questions", type=int, default=40)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    cores = om.default_threads()
    engine = Engine(index_dir=a.index_dir, settings=dataclasses.replace(Settings(), rerank=RerankSettings(model="none")))
    rows = [json.loads(line) for line in (PROJECT_ROOT / "evals" / "questions.jsonl").read_text().splitlines() if line.strip()]
    cases = [(r["question"], [clean(h.chunk.text) for h in engine.search(r["question"], k=5)]) for r in rows[: a.questions]]

    ce_all = om.CrossEncoder(threads=cores).load()  # one session on every core, passages in turn
    ce_workers = om.CrossEncoder().load()  # single-threaded session, one passage per core (the default)
    ways = {f"1 run x {cores} threads": lambda q, ps: ce_all.score(q, ps),
            f"{cores} runs x 1 thread": lambda q, ps: ce_workers.score(q, ps)}
    for f in ways.values():
        f(*cases[0])
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(a.repeats):
        for q, ps in cases:
            for name, f in ways.items():  # interleaved, so load changes hit both alike
                t = time.perf_counter()
                f(q, ps)
                times[name].append((time.perf_counter() - t) * 1e3)
    diff = max(float(np.abs(ce_all.score(q, ps) - ce_workers.score(q, ps)).max()) for q, ps in cases[:10])
    print(f"cross-encoder, 5 passages per question, {len(cases)} questions x {a.repeats}:")
    for name, v in times.items():
        print(f"  {name:>22}: p50 {statistics.median(v):6.0f} ms  p95 {np.percentile(v, 95):6.0f} ms")
    print(f"  largest logit difference: {diff:.2g}")

    chunks = engine.index.chunks[:120]
    pool = ThreadPoolExecutor(cores)
    late.encode_chunk(chunks[0], threads=cores)
    late.encode_chunk(chunks[0], threads=1)
    t = time.perf_counter()
    one = [late.encode_chunk(c, threads=cores) for c in chunks]
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    many = list(pool.map(lambda c: late.encode_chunk(c, threads=1), chunks))
    t_many = time.perf_counter() - t
    vdiff = max(float(np.abs(x[0].astype(np.float32) - y[0].astype(np.float32)).max()) for x, y in zip(one, many))
    print(f"ColBERT chunk encoding, {len(chunks)} seed chunks:")
    print(f"  {'1 run x %d threads' % cores:>22}: {len(chunks) / t_one:5.1f} chunks/s")
    print(f"  {'%d runs x 1 thread' % cores:>22}: {len(chunks) / t_many:5.1f} chunks/s")
    print(f"  largest vector difference: {vdiff:.2g}")


if __name__ == "__main__":
    main()
