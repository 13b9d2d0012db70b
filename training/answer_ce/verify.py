"""Does the float model rebuilt by dequantize.py reproduce the shipped INT8 ONNX cross-encoder's logits?

50 real pairs: 10 COVID-QA questions, each with its answer sentence and 4 other sentences of its article.
ONNX logits come from qa's own ``CrossEncoder.score`` (batch 1, as the engine runs it); the float model reads
the same word pieces.

    python training/answer_ce/verify.py FLOAT_DIR [ONNX_FILE]
"""

from __future__ import annotations

import random
import sys

import numpy as np


def pairs(path: str = "/tmp/covidqa.json", n: int = 10, per: int = 5, seed: int = 0):
    from data import candidates, load

    items = load(path)
    rng = random.Random(seed)
    out = []
    for it in rng.sample(items, n):
        others = [i for i in candidates(it) if i not in it.positives]
        out.append((it.question, [it.sentences[it.positives[0]]] + [it.sentences[i] for i in rng.sample(others, per - 1)]))
    return out


def torch_scores(model_dir: str, question: str, sentences: list[str]) -> np.ndarray:
    import torch
    from transformers import BertForSequenceClassification

    from qa.models.onnx_models import pair_arrays, tokenizer

    global _MODEL
    if "_MODEL" not in globals():
        _MODEL = BertForSequenceClassification.from_pretrained(model_dir).eval()
    tok = tokenizer("reranker_en", 256, "only_second")
    out = []
    with torch.no_grad():
        for s in sentences:
            ids, mask, types = (torch.from_numpy(a) for a in pair_arrays(tok.encode_batch([(question, s)])))
            out.append(float(_MODEL(input_ids=ids, attention_mask=mask, token_type_ids=types).logits[0, 0]))
    return np.array(out)


def onnx_scores(question: str, sentences: list[str], onnx_file: str | None = None) -> np.ndarray:
    from qa.models.onnx_models import CrossEncoder, pair_arrays, open_session, tokenizer, run_session

    if onnx_file is None:
        return CrossEncoder().score(question, sentences)
    sess = open_session(onnx_file, 1)
    tok = tokenizer("reranker_en", 256, "only_second")
    return np.array([float(run_session(sess, "logits", *pair_arrays(tok.encode_batch([(question, s)])))[0, 0]) for s in sentences])


def main(model_dir: str, onnx_file: str | None = None) -> None:
    from scipy.stats import pearsonr, spearmanr

    a, b, same = [], [], 0
    for q, sents in pairs():
        x, y = onnx_scores(q, sents, onnx_file), torch_scores(model_dir, q, sents)
        a += list(x)
        b += list(y)
        same += int(np.argmax(x) == np.argmax(y))
        print(f"{q[:60]:60s} onnx {np.round(x, 2)} float {np.round(y, 2)}")
    a, b = np.array(a), np.array(b)
    print(f"pairs {len(a)}: pearson {pearsonr(a, b)[0]:.4f}, spearman {spearmanr(a, b)[0]:.4f}, "
          f"max |diff| {np.abs(a - b).max():.3f}, mean |diff| {np.abs(a - b).mean():.3f}, "
          f"same best sentence {same}/10")


if __name__ == "__main__":
    main(*sys.argv[1:])
