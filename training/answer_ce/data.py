"""(question, sentence) pairs from COVID-QA for answer-sentence selection.

COVID-QA (deepset-ai/COVID-QA, ``data/question-answering/200423_covidQA.json``, Apache-2.0): 2,019 questions
(1,380 in the 200423 file) written by biomedical experts on 147 (98) scientific articles about COVID-19, in
SQuAD format, one paragraph per article. Each article is split into sentences the way the index splits
passages (blingfire, ``qa.ingest.chunk.split_sentences``); a sentence is a positive for a question when it
overlaps the answer span (at most the first two, so a long answer does not make a paragraph of positives);
every other sentence of the article is a possible negative.

Articles, not questions, are split into train and held out (a fixed seed), so no held-out question's
sentences were seen in training. ``load_squad`` reads other SQuAD-format sets the same way, one document per
article (training/answer_head/fit.py ``--extra``). The team's own questions (evals/questions.jsonl) and SQuAD's dev sets are
never read here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

SEED = 13
HELD_OUT = 0.2
MIN_WORDS = 4
"""Sentences under this many words (headings, figure labels, "(A)") are never candidates, as in the lead."""


@dataclass(frozen=True)
class Item:
    """One question with its article's sentences: which overlap the answer, and the one before each."""

    article: int | str
    question: str
    sentences: tuple[str, ...]
    positives: tuple[int, ...]


def article_sentences(context: str) -> tuple[list[str], list[tuple[int, int]]]:
    from qa.ingest.chunk import clean, split_sentences

    spans = []
    pos = 0
    for para in context.split("\n"):
        if para.strip():
            spans += split_sentences(context, pos, pos + len(para))
        pos += len(para) + 1
    texts = [clean(context[a:b]) for a, b in spans]
    return texts, spans


def answer_sentences(ans: dict, spans: list[tuple[int, int]], texts: list[str], offset: int = 0) -> list[int]:
    """The sentences (``offset`` + their index in ``spans``) the answer overlaps that have MIN_WORDS or more: the
    first two at most."""
    a, b = ans["answer_start"], ans["answer_start"] + len(ans["text"].rstrip())
    return [offset + i for i, (x, y) in enumerate(spans) if x < b and a < y and len(texts[offset + i].split()) >= MIN_WORDS][:2]


def load(path: str) -> list[Item]:
    data = json.load(open(path, encoding="utf-8"))["data"]
    items = []
    for art, article in enumerate(data):
        for para in article["paragraphs"]:
            texts, spans = article_sentences(para["context"])
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                pos = answer_sentences(qa["answers"][0], spans, texts)
                if pos:
                    items.append(Item(art, qa["question"].strip(), tuple(texts), tuple(pos)))
    return items


def load_squad(path: str, name: str) -> list[Item]:
    """Items from any SQuAD-format file, one document per article (its paragraphs' sentences in order, so a
    question's negatives come from the whole article, as for COVID-QA): an article is its ``title``, or, in files
    without titles (XTREME's TyDi QA GoldP), its paragraph's text. ``article`` is ``name:`` and that key, so
    ``split`` holds out whole documents; unanswerable questions and empty answers are skipped as in ``load``."""
    data = json.load(open(path, encoding="utf-8"))["data"]
    docs: dict[str, list[dict]] = {}
    for article in data:
        for para in article["paragraphs"]:
            key = article["title"] if article.get("title") else para["context"]
            docs.setdefault(key, []).append(para)
    items = []
    for key, paras in docs.items():
        texts, blocks = [], []
        for para in paras:
            t, spans = article_sentences(para["context"])
            blocks.append((len(texts), spans))
            texts += t
        for (offset, spans), para in zip(blocks, paras):
            for qa in para["qas"]:
                if qa.get("is_impossible") or not qa["answers"] or not qa["answers"][0]["text"].strip():
                    continue
                pos = answer_sentences(qa["answers"][0], spans, texts, offset)
                if pos:
                    items.append(Item(f"{name}:{key}", qa["question"].strip(), tuple(texts), tuple(pos)))
    return items


def split(items: list[Item], seed: int = SEED, held_out: float = HELD_OUT) -> tuple[list[Item], list[Item]]:
    """(train, held out), by article."""
    arts = sorted({it.article for it in items})
    random.Random(seed).shuffle(arts)
    held = set(arts[: round(held_out * len(arts))])
    return [it for it in items if it.article not in held], [it for it in items if it.article in held]


def candidates(item: Item) -> list[int]:
    """Sentences that may be chosen: at least MIN_WORDS words."""
    return [i for i, s in enumerate(item.sentences) if len(s.split()) >= MIN_WORDS]


def _words(text: str) -> list[str]:
    import re

    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1]


def bm25_order(question: str, sentences: tuple[str, ...], k1: float = 1.2, b: float = 0.75) -> list[int]:
    """Sentence indices by BM25 against the question (the article's sentences as the collection), best first."""
    import math
    from collections import Counter

    docs = [Counter(_words(s)) for s in sentences]
    n = len(docs)
    avg = sum(sum(d.values()) for d in docs) / max(1, n)
    df = Counter(w for d in docs for w in d)
    q = set(_words(question))
    scores = []
    for d in docs:
        length = sum(d.values())
        s = 0.0
        for w in q:
            if w in d:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                s += idf * d[w] * (k1 + 1) / (d[w] + k1 * (1 - b + b * length / max(avg, 1e-9)))
        scores.append(s)
    return sorted(range(n), key=lambda i: -scores[i])
