"""Compressed ColBERT token vectors: size, fidelity and MaxSim time of each codec (qa/models/late_codec.py).

    python benchmarks/late_codec.py --index-dir D [--questions 120] [--candidates 200] [--reps 5]

``D`` must hold a build with float16 token vectors (``qa index --late-codec none``). For each codec the
script trains on the build's own vectors (as a build does: up to late_codec.TRAIN_TOKENS), then over the
eval questions' ColBERT query vectors reports: bytes per token and per chunk; the mean distance of a
decoded vector from the original; how often MaxSim over all chunks puts the exact best chunk first, and
the overlap of the top 5; and the median time per question to score ``--candidates`` random chunks
from the stored form (float16 widened, or codes decoded) -- what a large index does per question, since
a small one is widened or decoded once at load (late_files.LATE_FLOAT32_MAX_BYTES).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.config import LATE_CODECS  # noqa: E402
from qa.index import build_dirs, late_files  # noqa: E402
from qa.models import late, late_codec  # noqa: E402
from qa.models.onnx_models import maxsim  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", required=True)
    ap.add_argument("--questions", type=int, default=120)
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    index = late_files.read_late(build_dirs.current_build(Path(args.index_dir)), widen=False)
    if index.codec is not None:
        raise SystemExit("This build's token vectors are codes: build one with `qa index --late-codec none` to compare against.")
    vectors = np.asarray(index.vectors, dtype=np.float32)
    offsets, n_chunks = index.offsets, len(index.offsets) - 1
    lines = Path("evals/questions.jsonl").read_text(encoding="utf-8").splitlines()[: args.questions]
    queries = [late.encode_query(json.loads(line)["question"]) for line in lines]
    exact = [maxsim(q, vectors, offsets) for q in queries]
    rng = np.random.default_rng(0)
    picks = [np.sort(rng.choice(n_chunks, min(args.candidates, n_chunks), replace=False)) for _ in queries]
    print(f"{len(vectors)} tokens in {n_chunks} chunks, {len(queries)} questions, {args.candidates} candidate chunks a question\n")
    print("| codec | bytes/token | bytes/chunk | vs float16 | train s | decode error | top-1 same | top-5 overlap | MaxSim ms/question (median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in LATE_CODECS:
        t = time.perf_counter()
        codec = late_codec.train(vectors, name)
        train_s = time.perf_counter() - t
        stored = index.vectors if codec is None else codec.encode(vectors)
        decode = None if codec is None else codec.decode
        approx = vectors if codec is None else codec.decode(stored)
        err = float(np.linalg.norm(approx - vectors, axis=1).mean())
        top1 = np.mean([np.argmax(maxsim(q, approx, offsets)) == np.argmax(e) for q, e in zip(queries, exact)])
        top5 = np.mean([len(set(np.argsort(-maxsim(q, approx, offsets))[:5]) & set(np.argsort(-e)[:5])) / 5
                        for q, e in zip(queries, exact)])
        times = []
        for q, rows in zip(queries, picks):
            best = float("inf")
            for _ in range(args.reps):
                t = time.perf_counter()
                maxsim(q, stored, offsets, rows, decode)
                best = min(best, time.perf_counter() - t)
            times.append(best)
        per_token = stored.shape[1] * stored.dtype.itemsize
        print(f"| {name} | {per_token} | {per_token * len(vectors) / n_chunks:.0f} | {768 / per_token:.1f}x | {train_s:.1f} | "
              f"{err:.3f} | {top1:.3f} | {top5:.3f} | {np.median(times) * 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    main()
