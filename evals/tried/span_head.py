"""A span head over the frozen cross-encoder's last layer, as a twelfth lead feature (tried, not kept).

The answer head (qa/models/answer_head.py) reads pooled states of the (topic, sentence) run. This asks whether the
same run's *token* states say more: two linear maps over the last layer's word pieces of the sentence give each
piece a start and an end score, fitted on COVID-QA answer spans (training/answer_ce/data.py's split by article:
78 articles to fit, 20 held out) with the shared-normalisation loss (a softmax over every piece of every candidate
sentence of a question, the gold starts and ends marginalised), and a sentence scores its best span (start + end,
at most ``MAX_SPAN`` pieces). Nothing reads the team's questions or SQuAD's dev sets except the ``lead`` step,
which measures on dev and prints test beside it.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python evals/tried/span_head.py data 200423_covidQA.json covid_states.pkl  # ~6 min
    PYTHONPATH=. python evals/tried/span_head.py fit covid_states.pkl span_w.npy                              # ~8 min
    PYTHONPATH=. HF_HUB_OFFLINE=1 python evals/tried/dump_answers.py answers.pkl                           # ~4 min
    PYTHONPATH=. HF_HUB_OFFLINE=1 python evals/tried/span_head.py lead answers.pkl span_w.npy                 # ~4 min
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "training" / "answer_ce"), str(ROOT / "training" / "answer_head")]

LAYER = "/bert/encoder/layer.11/output/LayerNorm/Add_1_output_0"
MAX_SPAN = 30
PENALTIES = (1e-3, 1e-2, 1e-1)
DIM = 384


def _runner():
    """A function (query, sentences) -> per sentence (last-layer states of its pieces, their character offsets,
    the answer head's score), from the engine's own session with the head's outputs."""
    from qa.models import onnx_models
    from qa.models.answer_head import AnswerScorer

    scorer = AnswerScorer().load()
    enc, sess = scorer.encoder, scorer.session()
    tok = onnx_models.tokenizer(enc.name, enc.MAX_LENGTH, "only_second")
    names = ["logits", *scorer.head.tensors]
    at = names.index(LAYER)

    def run(query: str, sentences: list[str]):
        q = enc.clip(query, enc.MAX_LENGTH)

        def one(s: str):
            e = tok.encode_batch([(q, s)])[0]
            ids, mask, types = onnx_models.pair_arrays([e])
            got = sess.run(names, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            head = scorer.head.score(scorer.head.features(dict(zip(names[1:], got[1:])), got[0][:, 0], types, mask))
            sel = np.where(np.array(e.sequence_ids) == 1)[0]
            return got[at][0, sel].astype(np.float16), [e.offsets[i] for i in sel], float(head[0])

        return onnx_models.parallel_map(one, list(sentences))

    return run


def covid_items(path: str):
    """data.load's items, each with the answer's place inside each positive sentence's cleaned text."""
    import data

    from qa.ingest.chunk import clean

    items, inside = [], []
    for art, article in enumerate(json.load(open(path, encoding="utf-8"))["data"]):
        for para in article["paragraphs"]:
            ctx = para["context"]
            texts, spans = data.article_sentences(ctx)
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                ans = qa["answers"][0]
                pos = data.answer_sentences(ans, spans, texts)
                if not pos:
                    continue
                a, b = ans["answer_start"], ans["answer_start"] + len(ans["text"].rstrip())
                where = {}
                for i in pos:
                    piece = clean(ctx[max(a, spans[i][0]) : min(b, spans[i][1])])
                    k = texts[i].find(piece) if piece else -1
                    if k >= 0:
                        where[texts[i]] = (k, k + len(piece))
                items.append(data.Item(art, qa["question"].strip(), tuple(texts), tuple(pos)))
                inside.append(where)
    return items, inside


def cmd_data(covidqa: str, out: str) -> None:
    import data
    from fit import groups

    items, inside = covid_items(covidqa)
    where = {(it.article, it.question): w for it, w in zip(items, inside)}
    train, held = data.split(items)
    run = _runner()
    result = {}
    for part, its, best, more in (("train", train, 9, 3), ("held", held, 10, 0)):
        rows = []
        for (q, sentences, y), it in zip(groups(its, best, more), its):
            w = where[(it.article, it.question)]
            pairs = []
            for s, right, (states, offsets, head) in zip(sentences, y, run(q, sentences)):
                start = end = None
                if right and s in w:
                    a, b = w[s]
                    start = next((k for k, (x, z) in enumerate(offsets) if z > a), None)
                    end = max((k for k, (x, z) in enumerate(offsets) if x < b), default=None)
                pairs.append((states, bool(right), start, end, head))
            rows.append((q, pairs))
        result[part] = rows
        print(f"{part}: {len(rows)} questions", file=sys.stderr)
    pickle.dump(result, open(out, "wb"))


def span_scores(w: np.ndarray, states: list[np.ndarray]) -> np.ndarray:
    """Each sentence's best span score: max over start i, end j in [i, i + MAX_SPAN) of start_i + end_j."""
    ws, we, mean, scale = w[:DIM], w[DIM : 2 * DIM], w[2 * DIM : 3 * DIM], w[3 * DIM :]
    out = []
    for h in states:
        z = (h.astype(np.float32) - mean) / scale
        s, e = z @ ws, z @ we
        out.append(max(s[i] + e[i : i + MAX_SPAN].max() for i in range(len(s))) if len(s) else 0.0)
    return np.array(out)


def _z(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v - v.mean()) / (v.std() + 1e-6) if len(v) else v


def cmd_fit(states: str, out: str) -> None:
    from scipy.optimize import minimize

    d = pickle.load(open(states, "rb"))
    every = np.vstack([p[0] for _, pairs in d["train"] for p in pairs]).astype(np.float32)
    mean, scale = every.mean(0), every.std(0) + 1e-6
    fit_rows = []
    for _, pairs in d["train"]:
        x = np.vstack([(p[0].astype(np.float32) - mean) / scale for p in pairs])
        off = np.cumsum([0] + [len(p[0]) for p in pairs])
        starts = [off[i] + p[2] for i, p in enumerate(pairs) if p[2] is not None]
        ends = [off[i] + p[3] for i, p in enumerate(pairs) if p[3] is not None]
        if starts and ends:
            fit_rows.append((x, np.array(starts), np.array(ends)))

    def loss(w, l2):
        total, grad = 0.0, np.zeros_like(w)
        for x, starts, ends in fit_rows:
            for gold, part in ((starts, slice(0, DIM)), (ends, slice(DIM, 2 * DIM))):
                s = x @ w[part]
                p = np.exp(s - s.max())
                p /= p.sum()
                right = p[gold].sum()
                total -= np.log(right + 1e-12)
                t = np.zeros_like(p)
                t[gold] = p[gold] / right
                grad[part] -= x.T @ (t - p)
        return total / len(fit_rows) + l2 * w @ w, grad / len(fit_rows) + 2 * l2 * w

    print(f"{len(fit_rows)} training questions with an answer span, {len(every)} pieces")
    print("| L2 | held-out P@1: span | answer head | head + .25 span | head + .5 span | head + 1 span |")
    print("|---|---|---|---|---|---|")
    best = None
    for l2 in PENALTIES:
        w = minimize(loss, np.zeros(2 * DIM), args=(l2,), jac=True, method="L-BFGS-B", options={"maxiter": 200}).x
        full = np.concatenate([w, mean, scale])
        right = {k: [] for k in ("span", "head", .25, .5, 1.0)}
        for _, pairs in d["held"]:
            y = np.array([p[1] for p in pairs])
            head, span = np.array([p[4] for p in pairs]), span_scores(full, [p[0] for p in pairs])
            right["span"].append(y[np.argmax(span)])
            right["head"].append(y[np.argmax(head)])
            for a in (.25, .5, 1.0):
                right[a].append(y[np.argmax(_z(head) + a * _z(span))])
        r = {k: float(np.mean(v)) for k, v in right.items()}
        print(f"| {l2:g} | " + " | ".join(f"{r[k]:.4f}" for k in right) + " |", flush=True)
        if best is None or r["span"] > best[0]:
            best = (r["span"], full)
    np.save(out, best[1])


def cmd_lead(answers: str, weights: str) -> None:
    from qa.ingest.chunk import clean
    from qa.measure import lead as fitting
    from qa.search.question import names, topic

    dump = pickle.load(open(answers, "rb"))
    w = np.load(weights)
    run = _runner()
    samples: dict[str, dict[str, list]] = {"base": {"dev": [], "test": []}, "span": {"dev": [], "test": []}}
    for q in dump:
        about = topic(q["text"]) if names(q["text"]) else q["text"]
        texts = [clean(t) for _, _, t in q["candidates"]]
        span = span_scores(w, [r[0] for r in run(about, texts)]) if texts else np.zeros(0)
        split = q["split"] or "dev"
        x = q["X"]
        samples["base"][split].append(fitting.Sample(q["id"], x, q["y"], q["out_of_scope"]))
        xs = np.column_stack([x, _z(span)]) if len(x) else np.zeros((0, x.shape[1] + 1))
        samples["span"][split].append(fitting.Sample(q["id"], xs, q["y"], q["out_of_scope"]))

    def rate(ss, wts):
        return np.mean([fitting.lead_probability(s, wts)[0] if len(s.y) else False for s in ss if not s.out_of_scope])

    print("| features | dev out of fold (5 fold seeds) | mean | dev in sample | test, weights fitted on dev |")
    print("|---|---|---|---|---|")
    for name, s in samples.items():
        oof = [np.mean([r for (r, _), x in zip(fitting.out_of_fold(s["dev"], seed=k), s["dev"]) if not x.out_of_scope])
               for k in range(5)]
        wts = fitting.fit_weights(s["dev"])
        print(f"| {name} | {' / '.join(f'{o:.3f}' for o in oof)} | {np.mean(oof):.4f} | {rate(s['dev'], wts):.4f} | "
              f"{rate(s['test'], wts):.4f} |")
        print(f"  weights: {np.round(wts, 3).tolist()}", file=sys.stderr)


if __name__ == "__main__":
    commands = {"data": cmd_data, "fit": cmd_fit, "lead": cmd_lead}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
