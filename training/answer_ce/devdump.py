"""Dump the lead's candidates on the team's dev split once, so a new sentence model is measured offline.

For every dev question the engine runs both stages as it does for an answer (``Engine.ranked``, default
settings); each candidate lead (qa/search/lead.py) is saved with its features, whether it overlaps the
evidence, and the two texts the sentence cross-encoder reads for it: (topic, sentence) for ``cross`` and
(question, previous sentence + sentence) for ``context``. Swapping the sentence model changes only those two
columns (the passages and their order come from the passage reranker, which is not changed), so
``devscore.py`` rescoring them and refitting the lead gives what ``qa eval --fit-lead`` would.
Only the dev split is read; it chooses, it never trains.

    python training/answer_ce/devdump.py OUT.pkl
"""

from __future__ import annotations

import pickle
import sys

import numpy as np


def main(out: str) -> None:
    from qa.engine import Engine
    from qa.ingest.chunk import clean
    from qa.measure.evalset import DEFAULT_QUESTIONS, load_questions, hit_target, locate, span_overlap
    from qa.search import lead
    from qa.search.quotable import quotable_flags
    from qa.search.question import names, topic

    engine = Engine()
    questions = [q for q in load_questions(DEFAULT_QUESTIONS) if q.split == "dev"]
    questions = locate(questions, lambda s: engine.document(s).text)
    passages = engine.settings.answer.lead_passages
    rows = []
    for n, q in enumerate(questions):
        text, hits, retriever, _ = engine.ranked(q.question, k=10)
        ok = quotable_flags(hits, retriever.index.docs, passages)
        cands = lead.candidates(hits, ok, passages)
        X = lead.features(text, hits, cands)
        y = np.array([any(hits[c.passage].chunk.source == t.source and span_overlap(c.span, (t.start, t.end)) > 0
                          for t in q.targets) for c in cands], dtype=bool)
        sents = {i: [clean(hits[i].chunk.text[a - hits[i].chunk.start: b - hits[i].chunk.start])
                     for a, b in hits[i].chunk.sentences] for i in {c.passage for c in cands}}
        about = topic(text) if names(text) else text
        rows.append({
            "qid": q.id, "question": text, "about": about, "X": X, "y": y, "oos": q.out_of_scope,
            "first_logit": float(hits[0].rerank) if hits and hits[0].rerank is not None else 0.0,
            "sentence": [sents[c.passage][c.sentence] for c in cands],
            "context": [(sents[c.passage][c.sentence - 1] + " " if c.sentence else "") + sents[c.passage][c.sentence]
                        for c in cands],
            "passage": [c.passage for c in cands],
            # top-10 passages for a passage-reranking check: texts and whether each hits
            "passages": [clean(h.chunk.text) for h in hits],
            "hit": [hit_target(h.chunk.source, h.chunk.start, h.chunk.end, q.targets) is not None for h in hits],
        })
        print(f"{n + 1}/{len(questions)}", file=sys.stderr, flush=True)
    with open(out, "wb") as f:
        pickle.dump(rows, f)


if __name__ == "__main__":
    main(sys.argv[1])
