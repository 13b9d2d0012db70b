"""MiniLM quantised to INT8 for builds, A/B: python benchmarks/minilm_int8.py {s8|u8} {pc|pt}

Quantises the checked ONNX export of the embedding model with onnxruntime's quantize_dynamic (s8/u8 weights,
per-channel or per-tensor), then prints its speed against the float export on the distinct texts of 300 generated
short documents (one single-threaded session per core, runs of 4, as builds embed), the cosine of its vectors to the
float ones, and dev retrieval figures of a seed index built and queried with it (questions embedded by it too).
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from embed_runtime import texts_of  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402

from qa.models import embed_onnx  # noqa: E402
from qa.models.embed import Embedder, resolve_model  # noqa: E402
from qa.models.mean_pool import MeanPoolModel  # noqa: E402
from qa.engine import Engine  # noqa: E402
from qa.measure.cli import DEFAULT_QUESTIONS  # noqa: E402
from qa.measure.evals import retrieval_metrics, run  # noqa: E402
from qa.measure.evalset import load_questions, locate  # noqa: E402
from qa.measure.synthetic import sentence_pool, write_short_docs  # noqa: E402
from qa.models.onnx_models import parallel_map  # noqa: E402

FIGURES = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def dev_figures(engine) -> dict:
    qs = locate([q for q in load_questions(DEFAULT_QUESTIONS) if q.split == "dev"], lambda s: engine.document(s).text)
    m = retrieval_metrics(qs, run(engine, qs, ["hybrid"], k=10, progress=False, ceiling=0)["hybrid"], 10)
    return {k: round(v, 3) for k, v in m.items() if k in FIGURES}


def main() -> None:
    weights = {"s8": QuantType.QInt8, "u8": QuantType.QUInt8}[sys.argv[1] if len(sys.argv) > 1 else "s8"]
    per_channel = (sys.argv[2] if len(sys.argv) > 2 else "pc") == "pc"
    emb = Embedder()
    floats = emb.query_model
    if floats is None:
        sys.exit("no ONNX export of the model: nothing to quantise")
    work = Path(tempfile.mkdtemp(prefix="qa-int8-"))
    try:
        quantize_dynamic(str(floats.folder / "model.onnx"), str(work / "model.onnx"), weight_type=weights, per_channel=per_channel)
        path = resolve_model(emb.name)
        ints = embed_onnx.OnnxMeanPool(work, path, *MeanPoolModel.describe(path))
        texts = sorted(texts_of(write_short_docs(work / "docs", 300, sentence_pool(ROOT / "seeds")), emb), key=len, reverse=True)

        def timed(model):
            runs = [texts[i : i + 4] for i in range(0, len(texts), 4)]
            t = time.perf_counter()
            out = np.vstack(parallel_map(lambda r: model.encode(r, batch_size=len(r), normalize_embeddings=True), runs))
            return out, time.perf_counter() - t

        ref, a = timed(emb.document_model)
        got, b = timed(ints.single_threaded())
        cos = (ref * got).sum(1)
        print(f"{len(texts)} texts: float {a:.1f} s, int8 {b:.1f} s ({a / b:.2f}x); cosine median {np.median(cos):.4f}, "
              f"min {cos.min():.4f}", flush=True)
        print("dev, float:", dev_figures(Engine(corpus=ROOT / "seeds", index_dir=work / "float-index", embedder=Embedder())), flush=True)
        emb._query_model, emb._document_model = ints, ints.single_threaded()
        print("dev, int8: ", dev_figures(Engine(corpus=ROOT / "seeds", index_dir=work / "int8-index", embedder=emb)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
