"""Measure a sentence cross-encoder on the dev candidates ``devdump.py`` saved: the lead refitted with it.

The model's logits replace the lead's ``cross`` (topic, sentence) and/or ``context`` (question, previous +
sentence) columns, or join them as two more features; the lead is refitted as ``qa eval --fit-lead`` does
(qa/measure/lead.py: the same loss, L2 and 5 folds) and the dev lead is read in sample and out of fold. Also
the passage reranker's first 6 reordered by the model's logits alone against the shipped one's, same pool.

    python training/answer_ce/devscore.py DUMP.pkl MODEL   # MODEL: a transformers folder or an .onnx file
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

DEPTH = 6


def scorer(model: str):
    """pairs -> logits, by the float model (folder) or an ONNX file, one pair per run as the engine does."""
    if model.endswith(".onnx") or model == "shipped":
        from qa.models.onnx_models import pair_arrays, run_session, open_session, session, tokenizer

        sess = session("reranker_en", 1) if model == "shipped" else open_session(Path(model), 1)
        tok = tokenizer("reranker_en", 256, "only_second")
        return lambda pairs: np.array([float(run_session(sess, "logits", *pair_arrays(tok.encode_batch([p])))[0, 0]) for p in pairs])
    from transformers import BertForSequenceClassification

    import train

    m = BertForSequenceClassification.from_pretrained(model).eval()
    return lambda pairs: train.score(m, pairs, batch=16)


def rescore(rows: list[dict], model: str, passages: bool = True) -> list[dict]:
    f = scorer(model)
    out = []
    for n, r in enumerate(rows):
        s = dict(r)
        s["new_cross"] = f([(r["about"], t) for t in r["sentence"]]) if r["sentence"] else np.zeros(0)
        s["new_context"] = f([(r["question"], t) for t in r["context"]]) if r["sentence"] else np.zeros(0)
        if passages:
            s["new_passage"] = f([(r["question"], t) for t in r["passages"][:DEPTH]])
        out.append(s)
        if n % 40 == 0:
            print(f"rescored {n}/{len(rows)}", file=sys.stderr, flush=True)
    return out


def z(v):
    v = np.asarray(v, dtype=np.float64)
    return (v - v.mean()) / (v.std() + 1e-6) if len(v) else v


def variant(rows: list[dict], how: str):
    from qa.measure.lead import Sample

    out = []
    for r in rows:
        X = r["X"].copy()
        if len(X) and how != "baseline":
            if how in ("cross", "both"):
                X[:, 7] = z(r["new_cross"])
            if how in ("context", "both"):
                X[:, 6] = z(r["new_context"])
            if how == "extra":
                X = np.hstack([X, z(r["new_cross"])[:, None], z(r["new_context"])[:, None]])
            if how == "alone":  # the new model's (topic, sentence) logit as the only sentence evidence
                X = np.hstack([X[:, :6], z(r["new_cross"])[:, None]])
        elif how == "extra":
            X = np.zeros((0, 12))
        elif how == "alone":
            X = np.zeros((0, 7))
        out.append(Sample(r["qid"], X, r["y"], r["first_logit"], r["oos"]))
    return out


def lead_figures(samples) -> dict:
    from qa.measure.lead import fit_weights, lead_probability, out_of_fold

    w = fit_weights(samples)
    inscope = [s for s in samples if not s.out_of_scope]
    ins = np.mean([lead_probability(s, w)[0] if len(s.y) else False for s in inscope])
    folded = [f for s, f in zip(samples, out_of_fold(samples)) if not s.out_of_scope]
    oof = np.mean([r for r, _ in folded])
    right = [bool(lead_probability(s, w)[0]) if len(s.y) else False for s in inscope]
    return {"in_sample": round(float(ins), 4), "oof": round(float(oof), 4), "right": right}


def passage_figures(rows: list[dict], key: str) -> dict:
    """R@1, R@3, R@5 and MRR@10 with the first DEPTH passages ordered by ``key`` logits alone (rank weight 0)."""
    r1, r3, r5, mrr = [], [], [], []
    for r in rows:
        if r["oos"]:
            continue
        hit = list(r["hit"])
        if key == "current":
            order = list(range(len(hit)))
        else:
            top = list(np.argsort(-np.asarray(r[key]), kind="stable"))
            order = top + list(range(len(top), len(hit)))
        h = [hit[i] for i in order]
        first = next((i for i, x in enumerate(h) if x), None)
        r1.append(first == 0)
        r3.append(first is not None and first < 3)
        r5.append(first is not None and first < 5)
        mrr.append(1 / (first + 1) if first is not None else 0.0)
    return {k: round(float(np.mean(v)), 4) for k, v in (("R@1", r1), ("R@3", r3), ("R@5", r5), ("MRR@10", mrr))}


def main(dump: str, model: str) -> None:
    import json

    rows = pickle.load(open(dump, "rb"))
    rows = rescore(rows, model)
    base = lead_figures(variant(rows, "baseline"))
    out = {"model": model, "baseline": {k: v for k, v in base.items() if k != "right"}}
    for how in ("cross", "context", "both", "extra", "alone"):
        f = lead_figures(variant(rows, how))
        won = sum(a and not b for a, b in zip(f["right"], base["right"]))
        lost = sum(b and not a for a, b in zip(f["right"], base["right"]))
        out[how] = {"in_sample": f["in_sample"], "oof": f["oof"], "won/lost in sample": f"{won}/{lost}"}
    out["passages_current_order"] = passage_figures(rows, "current")
    out["passages_by_model"] = passage_figures(rows, "new_passage")
    print(json.dumps(out, indent=1))
    pickle.dump(rows, open(dump + "." + Path(model).name + ".scored.pkl", "wb"))


if __name__ == "__main__":
    main(*sys.argv[1:])
