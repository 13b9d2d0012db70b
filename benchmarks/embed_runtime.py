"""Build-time embedding runtime, A/B: python benchmarks/embed_runtime.py [DOCS] [ROUNDS]

Embeds the distinct texts (chunks and sentences) of DOCS generated short documents (the build_rate section's
kind, default 300) with torch on every core (batches of qa.models.mean_pool.BATCH_SIZE) and with the checked ONNX export
on one single-threaded session per core side by side, batches of 1-32 texts of similar length, for ROUNDS
rounds (default 2), and prints wall seconds and the largest difference from torch's vectors.
Informs qa.models.embed.DOCUMENT_BATCH.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.ingest.chunk import Prefixer, chunk_document, model_text  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.models.embed import Embedder, _use_all_cores  # noqa: E402
from qa.models.mean_pool import BATCH_SIZE  # noqa: E402
from qa.ingest.load import load_folder  # noqa: E402
from qa.measure.synthetic import sentence_pool, write_short_docs  # noqa: E402
from qa.models.onnx_models import parallel_map  # noqa: E402


def texts_of(folder: Path, emb: Embedder) -> list[str]:
    s = Settings()
    docs, _ = load_folder(folder)
    chunks = [c for d in docs for c in chunk_document(d, emb.count_tokens, s.chunk, emb.max_seq_length)]
    by = {d.source: d for d in docs}
    pre = {d.source: Prefixer(d, s.chunk, emb.count_tokens) for d in docs}
    sents = {model_text(by[c.source].text[a:b], pre[c.source](c.section)[0]) for c in chunks for a, b in c.sentences}
    return [c.embed_text for c in chunks] + sorted(sents)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    emb = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        texts = texts_of(write_short_docs(Path(tmp), n, sentence_pool(ROOT / "seeds")), emb)
    ordered = sorted(texts, key=len, reverse=True)
    onnx = emb.document_model
    if onnx is None:
        sys.exit("no ONNX export of the model: nothing to compare")
    _use_all_cores()
    emb.model.encode(ordered[:64], batch_size=BATCH_SIZE)  # warm both
    onnx.encode(ordered[:8])
    print(f"{len(texts)} texts from {n} short documents")
    for r in range(rounds):
        t = time.perf_counter()
        ref = emb.model.encode(ordered, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
        line = [f"round {r + 1}: torch {time.perf_counter() - t:.1f} s"]
        for b in (1, 2, 4, 8, 16, 32):
            runs = [ordered[i : i + b] for i in range(0, len(ordered), b)]
            t = time.perf_counter()
            got = np.vstack(parallel_map(lambda run: onnx.encode(run, batch_size=len(run), normalize_embeddings=True), runs))
            line.append(f"onnx x{b} {time.perf_counter() - t:.1f} s (max diff {np.abs(got - ref).max():.1e})")
        print("; ".join(line), flush=True)


if __name__ == "__main__":
    main()
