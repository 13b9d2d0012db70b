"""Two ways to order passages that were measured against the shipped ones, offline, on one dump of every question.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python evals/tried/first_stage.py dump first_stage.pkl   # asks the engine (~2 min)
    PYTHONPATH=. python evals/tried/first_stage.py report first_stage.pkl

``dump``: every chunk of the index scored by the four first-stage lists (MiniLM, BM25, ColBERT, bge-small-en; each
list as deep as the index, so nothing is cut at the 100 candidates), whether it hits the question's evidence, and
the cross-encoder's logit of the first 20 passages of the shipped fusion. ``report``:

1. **A learned fusion** in place of the weighted RRF: a listwise softmax over each question's chunks (fitted by
   qa/measure/lead.py's ``fit_weights``) on each list's RRF term, or its score z-scored within the question, or the score's gap to
   the list's best, or all with the log ranks. Dev 5-fold out of fold (averaged over 3 fold seeds), against the
   shipped weights (chosen on dev, so in sample); test with the weights fitted on all of dev. The first stage's
   recall at 1, 6 (what the cross-encoder reads), 10 and 20.
2. **The cross-encoder reading deeper**: the first ``depth`` passages reordered by logit - w x ln(first-stage
   rank), as qa/search/rerank.py does at depth 6, w 0.5: R@1, R@5, MRR@10.

Passages are counted as the engine shows them: back matter after body text, and a chunk more than half repeated
in a better-ranked one passed over (``RetrievalSettings.max_shared``).
"""

from __future__ import annotations

import pickle
import sys

import numpy as np

from qa.config import RetrievalSettings

LISTS = ("dense", "bm25", "late", "second")
RS = RetrievalSettings()
WEIGHTS = np.array([RS.dense_weight, RS.bm25_weight, RS.late_weight, RS.second_weight])
POOL = 20


def dump(path: str) -> None:
    from qa.engine import Engine, clean_question
    from qa.measure.evalset import hit_target, load_questions, locate
    from qa.search.rerank import clean

    engine = Engine()
    r = engine.retriever
    chunks = r.index.chunks
    r.distinct = lambda order, k: order[:k]  # every chunk, repeats too: report() passes over them per order
    questions = locate(load_questions(), lambda s: engine.document(s).text)
    meta = dict(source=[c.source for c in chunks], start=np.array([c.start for c in chunks]),
                end=np.array([c.end for c in chunks]))
    out = []
    for i, q in enumerate(questions):
        text = r.speller.correct(clean_question(q.question))[0]
        hits = r.search(text, k=len(chunks), depth=len(chunks))
        nan = lambda v: np.nan if v is None else float(v)  # noqa: E731
        row = dict(id=q.id, split=q.split, out_of_scope=q.out_of_scope, rows=np.array([h.row for h in hits]),
                   scores=np.array([[nan(getattr(h, n)) for n in LISTS] for h in hits]),
                   ranks=np.array([[nan(getattr(h, f"rank_{n}")) for n in LISTS] for h in hits]),
                   back=np.array([h.back_matter for h in hits]),
                   hit=np.array([hit_target(h.chunk.source, h.chunk.start, h.chunk.end, q.targets) is not None for h in hits]))
        top = shown(row, meta, rrf_terms(row) @ WEIGHTS, POOL)
        logits = engine.reranker.model.score(text, [clean(chunks[c].text) for c in top], max_length=engine.settings.rerank.max_length)
        row["logits"] = dict(zip(top, map(float, logits)))
        out.append(row)
        print(f"\r{i + 1}/{len(questions)}", end="", file=sys.stderr)
    with open(path, "wb") as f:
        pickle.dump((out, meta), f)
    print(f"\n{len(out)} questions -> {path}", file=sys.stderr)


def rrf_terms(q: dict) -> np.ndarray:
    """Each list's 1 / (rrf_k + rank), 0 past the candidate depth, one column a list."""
    ranks = np.where(np.isnan(q["ranks"]) | (q["ranks"] > RS.candidates), np.inf, q["ranks"])
    return 1.0 / (RS.rrf_k + ranks)


def features(q: dict, kind: str) -> np.ndarray:
    raw = np.nan_to_num(q["scores"], nan=0.0)
    sd = raw.std(0) + 1e-9
    parts = {"rrf": rrf_terms(q), "z": (raw - raw.mean(0)) / sd, "gap": (raw - raw.max(0)) / sd,
             "log rank": np.log1p(np.minimum(np.nan_to_num(q["ranks"], nan=1e4), 1e4))}
    return np.hstack([parts[p] for p in kind.split("+")])


def shown(q: dict, meta: dict, score: np.ndarray, k: int) -> list[int]:
    """The first ``k`` chunks in the order the engine would show them for these scores."""
    rows = [int(r) for r in q["rows"][np.argsort(-score, kind="stable")]]
    back = dict(zip(q["rows"].tolist(), q["back"].tolist()))
    src, st, en = meta["source"], meta["start"], meta["end"]
    chosen: list[int] = []
    for r in [r for r in rows if not back[r]] + [r for r in rows if back[r]]:
        if not any(src[o] == src[r] and min(en[o], en[r]) - max(st[o], st[r]) > RS.max_shared * (en[r] - st[r]) for o in chosen):
            chosen.append(r)
            if len(chosen) == k:
                break
    return chosen


def first_hit(q: dict, order: list[int]) -> int | None:
    hit = dict(zip(q["rows"].tolist(), q["hit"].tolist()))
    return next((i for i, r in enumerate(order) if hit[r]), None)


def recalls(places: list[int | None], ks=(1, 6, 10, 20)) -> dict[str, float]:
    return {f"R@{k}": round(float(np.mean([p is not None and p < k for p in places])), 3) for k in ks}


def fit(questions: list[dict], kind: str, l2: float):
    """A scorer of chunks fitted as the lead model is (qa/measure/lead.py ``fit_weights``: the listwise softmax
    likelihood of the chunks that hit, L2 on standardised weights), each question's chunks its candidates."""
    from qa.measure.lead import Sample, fit_weights

    w = fit_weights([Sample(q["id"], features(q, kind), q["hit"], False) for q in questions], l2=l2)
    return lambda q: features(q, kind) @ w


def report(path: str) -> None:
    with open(path, "rb") as f:
        out, meta = pickle.load(f)
    dev = [q for q in out if q["split"] == "dev" and not q["out_of_scope"]]
    test = [q for q in out if q["split"] == "test" and not q["out_of_scope"]]
    shipped = lambda q: rrf_terms(q) @ WEIGHTS  # noqa: E731
    print("## 1. The first stage: weighted RRF (shipped) against a learned fusion\n")
    print("| fusion | L2 | dev R@1 | R@6 | R@10 | R@20 | test R@1 | R@6 | R@10 | R@20 |\n|---|---|---|---|---|---|---|---|---|---|")

    def line(name, l2, dev_places, test_places):
        d, t = recalls(dev_places), recalls(test_places)
        print(f"| {name} | {l2} | " + " | ".join(f"{v:.3f}" for v in (*d.values(), *t.values())) + " |")

    line("weighted RRF (shipped, chosen on dev)", "-", [first_hit(q, shown(q, meta, shipped(q), POOL)) for q in dev],
         [first_hit(q, shown(q, meta, shipped(q), POOL)) for q in test])
    for kind in ("rrf", "z", "rrf+z", "rrf+gap", "rrf+z+log rank"):
        for l2 in (0.001, 0.01, 0.1):
            per_seed = []
            for seed in range(3):
                folds = np.array_split(np.random.default_rng(seed).permutation(len(dev)), 5)
                places = []
                for fold in folds:
                    held = set(fold.tolist())
                    score = fit([q for i, q in enumerate(dev) if i not in held], kind, l2)
                    places += [first_hit(dev[i], shown(dev[i], meta, score(dev[i]), POOL)) for i in fold]
                per_seed.append(recalls(places))
            d = {k: round(float(np.mean([s[k] for s in per_seed])), 3) for k in per_seed[0]}
            score = fit(dev, kind, l2)
            t = recalls([first_hit(q, shown(q, meta, score(q), POOL)) for q in test])
            print(f"| learned: {kind} (dev out of fold) | {l2} | " + " | ".join(f"{v:.3f}" for v in (*d.values(), *t.values())) + " |")

    print("\n## 2. The cross-encoder reading deeper: logit - w x ln(first-stage rank) over the first `depth`\n")
    print("| depth | w | dev R@1 | R@5 | MRR@10 | test R@1 | R@5 | MRR@10 |\n|---|---|---|---|---|---|---|---|")
    for depth in (6, 8, 10, 12, 15, 20):
        for w in (0.5, 1.0, 2.0, 4.0):
            cells = []
            for group in (dev, test):
                places = []
                for q in group:
                    order = shown(q, meta, shipped(q), POOL)
                    top = order[:depth]
                    s = np.array([q["logits"][r] for r in top]) - w * np.log(np.arange(1, len(top) + 1))
                    places.append(first_hit(q, [top[i] for i in np.argsort(-s, kind="stable")] + order[depth:]))
                cells += [np.mean([p == 0 for p in places]), np.mean([p is not None and p < 5 for p in places]),
                          np.mean([1 / (p + 1) if p is not None and p < 10 else 0 for p in places])]
            print(f"| {depth} | {w} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")


if __name__ == "__main__":
    {"dump": dump, "report": report}[sys.argv[1]](sys.argv[2])
