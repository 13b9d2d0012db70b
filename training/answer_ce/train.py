"""Fine-tune the shipped cross-encoder (ms-marco-MiniLM-L-12-v2, rebuilt by dequantize.py) to pick answer sentences.

Data (data.py): COVID-QA, 80% of its articles (seed 13). Each training question is one group: the sentence
holding the start of its answer and NEGATIVES other sentences of the same article, the hardest first: the
HARD_BM25 sentences most like the question by BM25, then the rest at random. (Mining them by the current
model's score as well was tried and dropped: on the shared 2-core machine, at nice 19, scoring the BM25 pools
ran at under 4 pairs a second, an hour for the training set.) A group's loss is the softmax cross-entropy of its positive
(listwise, as the lead model ranks sentences against each other). With ``--context P`` a group is given, with
chance P, as (question, previous sentence + sentence), the form the lead's ``context`` feature reads.

Low learning rate, one epoch, so the model keeps what MS MARCO taught it. Seeded; CPU only.

    python training/answer_ce/train.py OUT_DIR [--lr 2e-5] [--epochs 1] [--context 0] [--base FLOAT_DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from data import SEED, Item, bm25_order, candidates, load, split  # noqa: E402

NEGATIVES = 7
HARD_BM25 = 5
MAX_LENGTH = 128
GROUPS_PER_STEP = 2
WARMUP = 0.1


def score(model, pairs: list[tuple[str, str]], batch: int = 32) -> np.ndarray:
    """Float logits of (question, text) pairs, truncated as the engine truncates (only the text)."""
    import torch

    tok = tokenizer()
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            enc = tok(pairs[i : i + batch], MAX_LENGTH)
            out.append(model(**enc).logits[:, 0].float().numpy())
    return np.concatenate(out) if out else np.zeros(0)


_TOK = None


def tokenizer():
    """Encode (question, text) pairs with the shipped tokenizer.json: padded to the longest, text cut first."""
    global _TOK
    if _TOK is None:
        import torch
        from tokenizers import Tokenizer

        from qa.models.onnx_models import check_files

        base = Tokenizer.from_file(str(check_files("reranker_en") / "tokenizer.json"))
        base.no_padding()

        def encode(pairs, max_length):
            base.enable_truncation(max_length, strategy="only_second")
            base.enable_padding(pad_id=0, pad_token="[PAD]")
            encs = base.encode_batch([(q[:300], t) for q, t in pairs])
            return {"input_ids": torch.tensor([e.ids for e in encs]),
                    "attention_mask": torch.tensor([e.attention_mask for e in encs]),
                    "token_type_ids": torch.tensor([e.type_ids for e in encs])}

        _TOK = encode
    return _TOK


def text_of(item: Item, i: int, context: bool) -> str:
    return (item.sentences[i - 1] + " " + item.sentences[i]) if context and i else item.sentences[i]


def negatives(items: list[Item]) -> dict[int, list[int]]:
    """Per item (by position), its NEGATIVES: the HARD_BM25 best by BM25, then others at random (seeded)."""
    rng = random.Random(SEED)
    out = {}
    for n, it in enumerate(items):
        allowed = [i for i in candidates(it) if i not in it.positives]
        hard = [i for i in bm25_order(it.question, it.sentences) if i in set(allowed)][:HARD_BM25]
        others = [i for i in allowed if i not in hard]
        out[n] = hard + rng.sample(others, min(len(others), NEGATIVES - len(hard)))
    return out


def heldout_p1(score_fn, items: list[Item], pool: int = 10, context: bool = False) -> tuple[float, float]:
    """Held-out sentence P@1 and MRR: the question against its article's BM25 top ``pool`` sentences plus the
    answer's (so the pool always holds a right one); right = one of the answer's sentences."""
    p1, rr = [], []
    for it in items:
        allowed = candidates(it)
        cands = [i for i in bm25_order(it.question, it.sentences) if i in set(allowed)][:pool]
        cands += [i for i in it.positives if i not in cands]
        s = score_fn([(it.question, text_of(it, i, context)) for i in cands])
        order = [cands[j] for j in np.argsort(-s, kind="stable")]
        first = next(r for r, i in enumerate(order) if i in it.positives)
        p1.append(first == 0)
        rr.append(1 / (first + 1))
    return float(np.mean(p1)), float(np.mean(rr))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--base", default="/tmp/ace/float0")
    p.add_argument("--data", default="/tmp/covidqa.json")
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--context", type=float, default=0.0)
    p.add_argument("--groups", type=int, default=0, help="train on only this many questions (seeded sample); 0: all")
    p.add_argument("--freeze", type=int, default=6, help="embeddings and this many lower layers are not trained")
    p.add_argument("--eval-only", action="store_true")
    args = p.parse_args()

    import torch
    from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup

    torch.manual_seed(SEED)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(int(os.environ.get("QA_THREADS", "2")))
    items = load(args.data)
    train, held = split(items)
    print(f"COVID-QA: {len(items)} questions with an answer sentence; train {len(train)} questions "
          f"({len({i.article for i in train})} articles), held out {len(held)} ({len({i.article for i in held})})",
          file=sys.stderr)
    model = BertForSequenceClassification.from_pretrained(args.base)
    if args.eval_only:
        print(json.dumps({"model": args.base, "heldout_p1_mrr": heldout_p1(lambda p: score(model, p), held)}))
        return
    negs = negatives(train)
    frozen = [model.bert.embeddings] + list(model.bert.encoder.layer[: args.freeze])
    for part in frozen:
        for w in part.parameters():
            w.requires_grad = False
    rng = random.Random(SEED)
    groups = []
    for n, it in enumerate(train):
        for _ in range(int(np.ceil(args.epochs))):
            groups.append((n, rng.random() < args.context))
    rng.shuffle(groups)
    groups = groups[: args.groups or int(len(train) * args.epochs)]
    steps = int(np.ceil(len(groups) / GROUPS_PER_STEP))
    opt = torch.optim.AdamW([w for w in model.parameters() if w.requires_grad], lr=args.lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(WARMUP * steps), steps)
    tok = tokenizer()
    model.train()
    t0 = time.time()
    losses = []
    for step in range(steps):
        batch = groups[step * GROUPS_PER_STEP : (step + 1) * GROUPS_PER_STEP]
        pairs, sizes = [], []
        for n, ctx in batch:
            it = train[n]
            ids = [it.positives[0]] + negs[n]
            pairs += [(it.question, text_of(it, i, ctx)) for i in ids]
            sizes.append(len(ids))
        logits = model(**tok(pairs, MAX_LENGTH)).logits[:, 0]
        loss, at = 0.0, 0
        for size in sizes:
            loss = loss + torch.nn.functional.cross_entropy(logits[at : at + size][None], torch.zeros(1, dtype=torch.long))
            at += size
        loss = loss / len(sizes)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
        if step % 20 == 0:
            print(f"step {step}/{steps} loss {np.mean(losses[-20:]):.3f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    train_s = time.time() - t0
    model.eval()
    model.save_pretrained(args.out)
    result = {"out": args.out, "lr": args.lr, "epochs": args.epochs, "context": args.context, "seed": SEED,
              "freeze": args.freeze, "max_length": MAX_LENGTH, "negatives": NEGATIVES, "groups_per_step": GROUPS_PER_STEP,
              "train_questions": len(train), "pairs": len(groups) * (NEGATIVES + 1), "train_seconds": round(train_s),
              "first_loss": round(float(np.mean(losses[:20])), 4), "final_loss": round(float(np.mean(losses[-20:])), 4)}
    (Path(args.out) / "train_result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
