"""Embedding order and batch size, A/B: python benchmarks/embed_batch.py [ROUNDS] [SAMPLE]

Embeds a random sample of the seed build's texts (chunks and sentences, in the
embedding cache's hash order) the old way (hash order, batches of 64) and
length-sorted with batches of 16/32/64, interleaved for ROUNDS rounds, and
prints wall and CPU seconds (median). CPU seconds are the robust figure on a
shared machine. Informs qa.models.mean_pool.BATCH_SIZE.
"""

import json
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.ingest.chunk import chunk_document, clean, context_prefix  # noqa: E402
from qa.config import ChunkSettings  # noqa: E402
from qa.models.embed import Embedder, text_key  # noqa: E402
from qa.ingest.load import load_folder  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(rounds: int = 2, n: int = 600) -> None:
    e = Embedder()
    m = e.model
    docs, _ = load_folder(ROOT / "seeds")
    by = {d.source: d for d in docs}
    chunks = [c for d in docs for c in chunk_document(d, e.count_tokens, ChunkSettings(), e.max_seq_length)]
    sents, seen = [], set()
    for c in chunks:
        for a, b in c.sentences:
            if (c.source, a, b) not in seen:
                seen.add((c.source, a, b))
                sents.append(context_prefix(by[c.source], c.section) + "\n" + clean(by[c.source].text[a:b]))
    texts = [t for _, t in sorted({text_key(t): t for t in [c.embed_text for c in chunks] + sents}.items())]
    sample = random.Random(0).sample(texts, min(n, len(texts)))

    def hash_order(bs):
        for i in range(0, len(sample), bs * 8):
            m.encode(sample[i : i + bs * 8], batch_size=bs, normalize_embeddings=True)

    def length_sorted(bs):
        st = sorted(sample, key=len, reverse=True)
        for i in range(0, len(st), bs * 8):
            m.encode(st[i : i + bs * 8], batch_size=bs, normalize_embeddings=True)

    variants = {"hash-order 64": lambda: hash_order(64), "sorted 16": lambda: length_sorted(16),
                "sorted 32": lambda: length_sorted(32), "sorted 64": lambda: length_sorted(64)}
    wall = {k: [] for k in variants}
    cpus = {k: [] for k in variants}
    for r in range(rounds):
        for k, f in variants.items():
            c0, t0 = cpu(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t0)
            cpus[k].append(cpu() - c0)
            print(r, k, f"wall {wall[k][-1]:.1f} s, cpu {cpus[k][-1]:.1f} s", flush=True)
    print(json.dumps({k: {"texts": len(sample), "wall_s_median": round(float(np.median(wall[k])), 2),
                          "cpu_s_median": round(float(np.median(cpus[k])), 2)} for k in variants}, indent=1))


if __name__ == "__main__":
    main(*(int(x) for x in sys.argv[1:3]))
