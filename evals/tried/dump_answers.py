"""Dump what the answer stage sees for every question of evals/questions.jsonl, for offline experiments.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python evals/tried/dump_answers.py answers.pkl

Per question: the cleaned question, its split, whether it is out of scope, the lead model's candidates (their
passage, sentence and text; features ``X`` as qa/search/lead.py computes them; labels ``y``: the sentence overlaps
the evidence) and the first 10 hits
after reranking with their scores, the second stage's sentence signals and whether each hits the evidence.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np

from qa.engine import Engine
from qa.measure.evalset import hit_target, load_questions, locate, overlaps_evidence
from qa.search import lead
from qa.search.quotable import quotable_flags


def hit_record(h, targets) -> dict:
    c, s = h.chunk, h.signals
    return dict(source=c.source, start=c.start, end=c.end, rerank=h.rerank, rank_fused=h.rank_fused,
                hit=hit_target(c.source, c.start, c.end, targets) is not None,
                signals=None if s is None else dict(late=s.late, cross=s.cross, context=s.context, answer=s.answer))


def main(path: str) -> None:
    engine = Engine()
    questions = locate(load_questions(), lambda s: engine.document(s).text)
    passages = engine.settings.answer.lead_passages
    out = []
    for i, q in enumerate(questions):
        text, hits, retriever, _ = engine.ranked(q.question, k=10)
        ok = quotable_flags(hits, retriever.index.docs, passages)
        cands = lead.candidates(hits, ok, passages)
        y = [overlaps_evidence(hits[c.passage].chunk.source, c.span, q.targets) for c in cands]
        out.append(dict(id=q.id, question=q.question, text=text, split=q.split, out_of_scope=q.out_of_scope,
                        X=lead.features(text, hits, cands), y=np.array(y, dtype=bool),
                        candidates=[(c.passage, c.sentence, c.text) for c in cands],
                        hits=[hit_record(h, q.targets) for h in hits]))
        print(f"\r{i + 1}/{len(questions)}", end="", file=sys.stderr)
    with open(path, "wb") as f:
        pickle.dump(out, f)
    print(f"\n{len(out)} questions -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
