"""Refusal by a second signal beside the first passage's logit, each threshold chosen on dev by ``qa eval
--calibrate``'s own rule (qa/measure/evals.py ``calibrate``: the best balanced accuracy refusing at most 5% of in-scope
questions).

    PYTHONPATH=. python evals/tried/refusal_mixes.py answers.pkl    # from dump_answers.py

Prints, per signal alone and per logit + w x signal: out-of-scope refused / all, answerable refused / all, dev
then test. Test is read, never chosen on.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np

from qa.config import AnswerSettings
from qa.measure.evals import calibrate
from qa.measure.evalset import Question
from qa.search.lead import FEATURES, softmax

WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)


def signals(q: dict, w: np.ndarray) -> dict[str, float]:
    """What may tell an out-of-scope question, from one question's dump."""
    first3 = [h["signals"] for h in q["hits"][:3] if h["signals"]]

    def best(name: str, empty: float) -> float:
        values = [v for s in first3 for v in s[name] if v == v]  # NaN: a sentence that may not lead, not read
        return max(values) if values else empty

    return {
        "logit": q["hits"][0]["rerank"],
        "second logit": q["hits"][1]["rerank"],
        "mean logit of 3": float(np.mean([h["rerank"] for h in q["hits"][:3]])),
        "best answer head": best("answer", -10.0),
        "best sentence logit": best("cross", -12.0),
        "best context logit": best("context", -12.0),
        "best ColBERT sentence": best("late", 0.0),
        "lead model's top share": float(softmax(q["X"] @ w).max()) if len(q["X"]) else 0.0,
    }


def counts(rows, score, threshold) -> tuple[int, int, int, int]:
    oos = [score(f) < threshold for q, f in rows if q["out_of_scope"]]
    ans = [score(f) < threshold for q, f in rows if not q["out_of_scope"]]
    return sum(oos), len(oos), sum(ans), len(ans)


def threshold(rows, score) -> float:
    """The threshold ``qa eval --calibrate`` would choose on these rows' scores (qa/measure/evals.py)."""
    questions = [Question(q["id"], q["question"], (), q["split"], q["out_of_scope"]) for q, _ in rows]
    return calibrate(questions, {q["id"]: score(f) for q, f in rows})["threshold"]


def main(path: str) -> None:
    with open(path, "rb") as f:
        dump = pickle.load(f)
    w = np.array([dict(AnswerSettings().lead_weights)[name] for name in FEATURES])
    rows = {s: [(q, signals(q, w)) for q in dump if q["split"] == s] for s in ("dev", "test")}
    names = list(rows["dev"][0][1])
    scores = [(n, lambda f, n=n: f[n]) for n in names]
    scores += [(f"logit + {a} x {n}", lambda f, n=n, a=a: f["logit"] + a * f[n]) for n in names[1:] for a in WEIGHTS]
    print("| refused by | threshold | dev out of scope | dev answerable | test out of scope | test answerable |")
    print("|---|---|---|---|---|---|")
    for name, score in scores:
        t = threshold(rows["dev"], score)
        d, e = counts(rows["dev"], score, t), counts(rows["test"], score, t)
        print(f"| {name} | {t:.3f} | {d[0]}/{d[1]} | {d[2]}/{d[3]} | {e[0]}/{e[1]} | {e[2]}/{e[3]} |")


if __name__ == "__main__":
    main(sys.argv[1])
