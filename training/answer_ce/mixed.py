"""INT8 for the frozen lower half, float for what was fine-tuned: does the fine-tuning survive quantisation?

Per-tensor INT8 rounding put back most of run A's weight changes (for a typical upper-layer matrix none of its
changes exceeded half a quantisation step), so here the MatMuls of layers >= FREEZE, the pooler and the
classifier are left out of the quantisation.

    python training/answer_ce/mixed.py FLOAT.onnx OUT.onnx [FREEZE]
"""

from __future__ import annotations

import sys


def main(src: str, out: str, freeze: int = 6) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(src).graph
    keep = [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm") and (
        any(f"/layer.{i}/" in n.name for i in range(int(freeze), 12)) or "pooler" in n.name or "classifier" in n.name)]
    quantize_dynamic(src, out, weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    print(f"{len(keep)} MatMul/Gemm nodes left float -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
