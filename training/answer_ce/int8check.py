"""Does the INT8 model pick the same sentences as its float export on the dev candidates?

Per dev question, the candidate with the best (topic, sentence) logit by the float ONNX export against the
INT8 file (scored ones read from devscore.py's pickle), and the logits' correlation.

    python training/answer_ce/int8check.py SCORED.pkl FLOAT.onnx
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from devscore import scorer  # noqa: E402


def main(scored: str, float_onnx: str) -> None:
    rows = [r for r in pickle.load(open(scored, "rb")) if len(r["sentence"])]
    f = scorer(float_onnx)
    same, a, b = 0, [], []
    for r in rows:
        x = f([(r["about"], t) for t in r["sentence"]])
        same += int(np.argmax(x) == np.argmax(r["new_cross"]))
        a += list(x)
        b += list(r["new_cross"])
    a, b = np.array(a), np.array(b)
    print(f"dev questions {len(rows)}: same best sentence INT8 vs float {same}/{len(rows)}; "
          f"pearson {np.corrcoef(a, b)[0, 1]:.4f}; max |diff| {np.abs(a - b).max():.3f}; mean {np.abs(a - b).mean():.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
