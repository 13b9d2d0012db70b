"""Fit the answer head (qa/models/answer_head.py) on COVID-QA answer sentences and write its weights.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python training/answer_head/fit.py COVIDQA.json [--out qa/models/data/answer_head.npz]
        [--extra OTHER.json ...]

COVID-QA (deepset-ai/COVID-QA, ``data/question-answering/200423_covidQA.json``, Apache-2.0) is split by article
with a fixed seed (training/answer_ce/data.py: 78 articles / 1,178 questions to fit, 20 / 192 held out). For
each question the pairs are (question, sentence) for its answer sentence(s), its 9 best other sentences by BM25
and 3 more at random (seed 13); held-out questions get their 10 best by BM25 and the answer (as
training/answer_ce/heldout.py). The cross-encoder reads each pair once, frozen, exactly as the engine does
(``AnswerScorer.features``); the head is a linear model over the standardised inputs (INPUTS), fitted with the
listwise softmax loss (the answer among its question's sentences) and an L2 penalty by L-BFGS. The penalty
is chosen by held-out sentence P@1 (ties: the larger penalty). Nothing here reads the team's own questions or
SQuAD's dev sets. Features are cached next to the output (``.features.npz``) so refits are quick.

``--extra FILE`` (any number) adds another SQuAD-format set (training/answer_ce/data.py ``load_squad``: one
document per article, or per paragraph in files without titles), split by document with the same seed and
share; its questions with fewer than MIN_CANDIDATES candidate sentences are dropped (nothing to choose
between). Its training pairs join COVID-QA's; the penalty is then chosen by the mean of the two held-out P@1s
(COVID-QA's held-out articles, the extra files' held-out documents pooled). Each extra file's features are
cached beside the output too (``.<file name>.features.npz``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "answer_ce"))  # data.py: COVID-QA pairs, shared

INPUTS = (
    ("logits", "logit"),
    ("/bert/pooler/activation/Tanh_output_0", "cls"),  # the pooled [CLS] the classifier reads
    ("/bert/pooler/Gather_output_0", "cls"),  # the last layer's [CLS] before pooling
    ("/bert/encoder/layer.11/output/LayerNorm/Add_1_output_0", "second_mean"),  # the sentence's tokens, last layer
    ("/bert/encoder/layer.7/output/LayerNorm/Add_1_output_0", "cls"),  # [CLS] of layer 8
)
PENALTIES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
SEED = 13
MIN_CANDIDATES = 3
"""An extra file's question is kept when its document has at least this many candidate sentences."""


def groups(items, best: int, random_more: int) -> list[tuple[str, list[str], list[bool]]]:
    import data

    rng = random.Random(SEED)
    out = []
    for it in items:
        cand = set(data.candidates(it))
        order = [i for i in data.bm25_order(it.question, it.sentences) if i in cand]
        pick = list(it.positives) + [i for i in order if i not in it.positives][:best]
        rest = [i for i in sorted(cand) if i not in pick]
        pick += rng.sample(rest, min(random_more, len(rest)))
        out.append((it.question, [it.sentences[i] for i in pick], [i in it.positives for i in pick]))
    return out


def features(scorer, gs) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for n, (q, sentences, y) in enumerate(gs):
        out.append((scorer.features(q, sentences)[1], np.array(y, dtype=bool)))
        if n % 100 == 0:
            print(f"  {n}/{len(gs)}", file=sys.stderr, flush=True)
    return out


def fit(train, l2: float, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    xs = [((x - mean) / scale, y / y.sum()) for x, y in train]

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for x, t in xs:
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            total -= float(t @ np.log(p + 1e-12))
            grad -= x.T @ (t - p)
        return total / len(xs) + l2 * w @ w, grad / len(xs) + 2 * l2 * w

    return minimize(loss, np.zeros(xs[0][0].shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x


def cached(path: Path, make) -> tuple[list, list]:
    """(train, held) feature groups from ``path``, or from ``make()``, then saved there."""
    if path.exists():
        z = np.load(path)
        return ([(z[f"tx{i}"], z[f"ty{i}"]) for i in range(int(z["ntrain"]))],
                [(z[f"hx{i}"], z[f"hy{i}"]) for i in range(int(z["nheld"]))])
    train, held = make()
    np.savez(path, ntrain=len(train), nheld=len(held), **{f"tx{i}": x for i, (x, _) in enumerate(train)},
             **{f"ty{i}": y for i, (_, y) in enumerate(train)}, **{f"hx{i}": x for i, (x, _) in enumerate(held)},
             **{f"hy{i}": y for i, (_, y) in enumerate(held)})
    return train, held


def p_at_1(gs, score) -> float:
    return float(np.mean([y[int(np.argmax(score(x)))] for x, y in gs]))


def main() -> None:
    import data

    from qa.models.answer_head import AnswerScorer, Head

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("covidqa", help="200423_covidQA.json")
    p.add_argument("--out", default="qa/models/data/answer_head.npz")
    p.add_argument("--extra", action="append", default=[], metavar="FILE",
                   help="another SQuAD-format file to fit on (split by document; see the module's docstring)")
    args = p.parse_args()
    out = Path(args.out)
    tensors = [t for t, _ in INPUTS]
    readings = [r for _, r in INPUTS]
    t0 = time.time()
    scorer = None

    def pairs(train_items, held_items):
        nonlocal scorer
        if scorer is None:
            scorer = AnswerScorer(head=Head(tuple(INPUTS), np.zeros(1), np.ones(1), np.zeros(1)))
        return features(scorer, groups(train_items, 9, 3)), features(scorer, groups(held_items, 10, 0))

    train, held = cached(out.with_suffix(".features.npz"), lambda: pairs(*data.split(data.load(args.covidqa))))
    extra_train, extra_held, extra_report = [], [], {}
    for path in args.extra:
        name = Path(path).name
        items = [it for it in data.load_squad(path, name) if len(data.candidates(it)) >= MIN_CANDIDATES]
        tr_items, he_items = data.split(items)
        tr, he = cached(out.with_suffix(f".{name}.features.npz"), lambda: pairs(tr_items, he_items))
        extra_train += tr
        extra_held += he
        extra_report[name] = {"sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(), "questions": len(items),
                              "documents": len({it.article for it in items}), "train_questions": len(tr),
                              "held_questions": len(he), "held_documents": len({it.article for it in he_items})}
    t1 = time.time()
    covid_train = len(train)
    train = train + extra_train
    every = np.vstack([x for x, _ in train])
    mean, scale = every.mean(0), every.std(0) + 1e-6
    report = {"train_questions": len(train), "train_pairs": len(every), "held_questions": len(held),
              "held_p_at_1_logit_alone": p_at_1(held, lambda x: x[:, 0]), "penalties": {}}
    if extra_held:
        report.update({"covidqa_train_questions": covid_train, "extra": extra_report,
                       "extra_held_questions": len(extra_held),
                       "extra_held_p_at_1_logit_alone": p_at_1(extra_held, lambda x: x[:, 0])})
    best = None
    for l2 in PENALTIES:
        w = fit(train, l2, mean, scale)
        held_p = p_at_1(held, lambda x: ((x - mean) / scale) @ w)
        report["penalties"][str(l2)] = {"held_p_at_1": round(held_p, 4),
                                        "train_p_at_1": round(p_at_1(train, lambda x: ((x - mean) / scale) @ w), 4)}
        choose = held_p
        if extra_held:
            extra_p = p_at_1(extra_held, lambda x: ((x - mean) / scale) @ w)
            report["penalties"][str(l2)]["extra_held_p_at_1"] = round(extra_p, 4)
            choose = (held_p + extra_p) / 2
            print(f"l2 {l2}: held-out P@1 {held_p:.3f}, extra held-out {extra_p:.3f}", file=sys.stderr, flush=True)
        else:
            print(f"l2 {l2}: held-out P@1 {held_p:.3f}", file=sys.stderr, flush=True)
        if best is None or choose >= best[0]:
            best = (choose, l2, w)
    _, l2, w = best
    held_p = report["penalties"][str(l2)]["held_p_at_1"]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, tensors=np.array(tensors), readings=np.array(readings), mean=mean.astype(np.float32),
             scale=scale.astype(np.float32), weights=w.astype(np.float32))
    report.update({"chosen_l2": l2, "held_p_at_1": round(held_p, 4), "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
                   "feature_seconds": round(t1 - t0, 1), "fit_seconds": round(time.time() - t1, 1)})
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
