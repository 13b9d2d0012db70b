"""Latency of the shipped ONNX models (qa/models/onnx_models.py) on the seed text: python benchmarks/rerank_latency.py

Prints medians (and CPU time per call, which shows what idle threads cost the other processes on a
shared machine) for:

* the cross-encoder on 5/10/20 passages of ~120 words at max_length 256 and 512, 1 and 2 threads,
  batch sizes 1/4/8/all, plus the same at 512 on ~360-word passages (where 512 actually reads more);
* onnxruntime's thread spinning on and off;
* ColBERT query encoding, ColBERT encoding of 300 passages (per passage), batch 1 and 16;
* maxsim over ~300 documents (real ColBERT vectors and 300 x 100 random), float32 and float16,
  all documents and a 50-document subset; and how much float16 storage moves the scores.

Configurations are timed round-robin (one call of each per repeat), so a change in the machine's
load hits them all alike. ``--repeats`` (default 15) and ``--quick`` (fewer configurations).
Run it under ``nice``: it keeps the 2 cores busy for several minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.models import onnx_models as om  # noqa: E402

QUESTIONS = [
    "What makes system leadership hard for integrated care systems?",
    "Who leads Surrey Heartlands?",
    "How should leaders of integrated care systems share power with local authorities?",
    "What role do citizens and communities play in integrated care?",
]


def pieces(words: int = 120, stride: int | None = None) -> list[str]:
    """The seed documents cut into consecutive ~``words``-word passages (overlapping if stride < words)."""
    out = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        w = path.read_text(encoding="utf-8").split()
        step = stride or words
        out += [" ".join(w[i : i + words]) for i in range(0, max(1, len(w) - words // 2), step)]
    return out


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load %.2f %.2f %.2f" % os.getloadavg()


def round_robin(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall ms and median process-CPU ms per call, one warm-up each, configurations interleaved."""
    for fn in calls.values():
        fn()
    wall: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for key, fn in calls.items():
            c, t = time.process_time(), time.perf_counter()
            fn()
            wall[key].append((time.perf_counter() - t) * 1e3)
            cpu[key].append((time.process_time() - c) * 1e3)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in calls}


def bench_cross(repeats: int, quick: bool) -> None:
    short, long = pieces(120), pieces(360)
    rng = np.random.default_rng(0)
    short = [short[i] for i in rng.permutation(len(short))]
    long = [long[i] for i in rng.permutation(len(long))]
    tok = om.tokenizer("reranker_en", 100_000, special=False)
    n_tok = [len(e.ids) for e in tok.encode_batch(short[:20], add_special_tokens=False)]
    l_tok = [len(e.ids) for e in tok.encode_batch(long[:10], add_special_tokens=False)]
    print(f"\npassages: ~120 words = {statistics.median(n_tok):.0f} word pieces (median, max {max(n_tok)}); "
          f"~360 words = {statistics.median(l_tok):.0f}")
    q = QUESTIONS[0]
    ns = (10,) if quick else (5, 10, 20)
    print("\ncross-encoder: median ms per call (CPU ms), question + n passages, spinning off")
    print(f"{'threads':>7} {'max_len':>7} {'n':>3} | " + " | ".join(f"{'bs=' + b:>15}" for b in ("1", "4", "8", "all")))
    for threads in (2, 1):
        ce = om.CrossEncoder(threads=threads).load()
        for max_length in (256, 512):
            calls = {}
            for n in ns:
                for bs in (1, 4, 8, n):
                    calls[f"{n}/{bs}"] = (lambda n=n, bs=bs, ml=max_length: ce.score(q, short[:n], ml, batch_size=bs))
            res = round_robin(calls, repeats)
            for n in ns:
                cells = [res[f"{n}/{bs}"] for bs in (1, 4, 8, n)]
                print(f"{threads:>7} {max_length:>7} {n:>3} | " + " | ".join(f"{w:>7.0f} ({c:>5.0f})" for w, c in cells))
        ref = ce.score(q, short[:20], 256, batch_size=1)
        for bs in (4, 8, 20):
            s = ce.score(q, short[:20], 256, batch_size=bs)
            print(f"  threads {threads}: batch {bs} vs batch 1 on 20 passages: max |diff| {np.abs(s - ref).max():.3f} "
                  f"logits (range {ref.min():.1f}..{ref.max():.1f}); same order: {bool((np.argsort(-s) == np.argsort(-ref)).all())}")
    ce = om.CrossEncoder(threads=2)
    res = round_robin({f"{ml}": (lambda ml=ml: ce.score(q, long[:10], ml, batch_size=1)) for ml in (256, 512)}, repeats)
    print("  ~360-word passages, n=10, threads 2, bs 1: " + ", ".join(f"max_length {k}: {w:.0f} ms" for k, (w, _) in res.items()))

    print("\nspinning (n=10, max_length 256, bs 1): median wall ms (CPU ms)")
    calls = {}
    for spin in (False, True):
        for threads in (1, 2):
            om.SPIN = spin
            enc = om.CrossEncoder(threads=threads).load()
            calls[f"spin={spin} threads={threads}"] = lambda enc=enc, spin=spin: (setattr(om, "SPIN", spin), enc.score(q, short[:10], 256, batch_size=1))
    om.SPIN = False
    for k, (w, c) in round_robin(calls, repeats).items():
        print(f"  {k:<24} {w:>6.0f} ({c:>5.0f})")
    om.SPIN = False


def bench_colbert(repeats: int) -> None:
    cb = om.ColBERT().load()
    res = round_robin({q: (lambda q=q: cb.encode_query(q)) for q in QUESTIONS[:2]}, max(repeats, 30))
    print("\nColBERT query encode: " + ", ".join(f"{w:.1f} ms (CPU {c:.1f})" for w, c in res.values()))
    docs = pieces(120, stride=60)[:300]
    for bs in (1, 16):
        times: list[float] = []
        out: list[np.ndarray] = []
        for i in range(0, len(docs), bs):
            t = time.perf_counter()
            out += cb.encode_documents(docs[i : i + bs], batch_size=bs)
            times.append((time.perf_counter() - t) * 1e3 / len(docs[i : i + bs]))
        print(f"ColBERT encode of {len(docs)} passages, batch {bs}: median {statistics.median(times):.1f} ms per passage "
              f"({len(times)} batches, total {sum(times) * bs / 1e3:.1f} s); tokens kept per passage: "
              f"median {statistics.median(len(d) for d in out):.0f}")
        if bs == 1:
            ref_docs = out
    ref = np.vstack(ref_docs)
    offsets = np.concatenate(([0], np.cumsum([len(d) for d in ref_docs])))
    b16 = np.vstack(out)
    print(f"  batch 16 vs batch 1 token vectors: min cosine {float((ref * b16).sum(1).min()):.3f}")
    bench_maxsim(cb, ref, offsets, repeats)


def bench_maxsim(cb: om.ColBERT, docs: np.ndarray, offsets: np.ndarray, repeats: int) -> None:
    qvs = [cb.encode_query(q) for q in QUESTIONS]
    print(f"\nmaxsim: median ms over {max(repeats, 50)} calls")
    rng = np.random.default_rng(1)
    rand = om._normalise(rng.standard_normal((300 * 100, 384)).astype(np.float32))
    roff = np.arange(0, 300 * 100 + 1, 100)
    subset = rng.choice(300, 50, replace=False)
    calls = {}
    for label, mat, off in (("real 300 docs", docs, offsets), ("random 300x100", rand, roff)):
        for dt in (np.float32, np.float16):
            m = mat.astype(dt)
            calls[f"{label} {np.dtype(dt).name} all"] = lambda m=m, off=off: om.maxsim(qvs[0], m, off)
            calls[f"{label} {np.dtype(dt).name} rows=50"] = lambda m=m, off=off: om.maxsim(qvs[0], m, off, rows=subset)
    for k, (w, _) in round_robin(calls, max(repeats, 50)).items():
        print(f"  {k:<34} {w:>6.2f}")
    print(f"  real docs: {len(offsets) - 1} docs, {len(docs)} token vectors, "
          f"{docs.nbytes / 1e6:.1f} MB float32 / {docs.nbytes / 2e6:.1f} MB float16")
    diffs, same_top = [], 0
    for qv in qvs:
        a, b = om.maxsim(qv, docs, offsets), om.maxsim(qv, docs.astype(np.float16), offsets)
        diffs.append(float(np.abs(a - b).max()))
        same_top += int((np.argsort(-a)[:10] == np.argsort(-b)[:10]).all())
        spread = float(np.sort(a)[-1] - np.sort(a)[-10])
    print(f"  float16 storage: max |score diff| {max(diffs):.4f} (score gap top1-top10 ~{spread:.2f}); "
          f"identical top-10 order for {same_top}/{len(qvs)} questions")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print("before:", uptime())
    print(f"onnxruntime sessions: intra_op threads default {om.default_threads()}, cores {os.cpu_count()}")
    bench_cross(args.repeats, args.quick)
    print("\nafter cross-encoder:", uptime())
    bench_colbert(args.repeats)
    print("\nafter:", uptime())


if __name__ == "__main__":
    main()
