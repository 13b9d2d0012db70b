"""Small frozen records passed between stages.

Offsets are the contract: every span is ``(start, end)`` into ``Document.text``,
so ``doc.text[start:end]`` is exactly the passage shown.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

Span = tuple[int, int]


@dataclass(frozen=True)
class Heading:
    start: int
    end: int
    title: str
    level: int


@dataclass(frozen=True)
class Page:
    """One page of a paged document (a PDF): where its text lies in ``Document.text`` and how it is numbered."""

    start: int
    end: int  # text[start:end] is what was read from this page (pages are joined by PAGE_BREAK)
    number: int  # physical, 1-based
    label: str  # the number printed on it (the PDF's page label), else str(number)
    width: float = 0.0  # in PDF points, as rendered (rotation applied)
    height: float = 0.0
    ocr: bool = False  # its text was read by OCR from the page's image


def page_range(pages: tuple[Page, ...], start: int, end: int) -> str:
    """"p. 12" or "pp. 12-13" for the pages the span ``[start, end)`` is printed on; "" when not paged."""
    hit = [p for p in pages if p.start < max(end, start + 1) and start < p.end]
    if not hit:
        return ""
    first, last = hit[0].label, hit[-1].label
    return f"p. {first}" if first == last else f"pp. {first}-{last}"


@dataclass(frozen=True)
class Document:
    source: str  # file name relative to the corpus folder, e.g. "002_x.txt"
    text: str  # the text as loaded; all offsets point into it
    title: str
    sha256: str  # of the file's bytes
    author: str = ""
    publisher: str = ""
    date: str = ""
    kind: str = ""
    headings: tuple[Heading, ...] = ()
    skipped: tuple[Span, ...] = ()  # layout debris kept out of chunks
    # references, about the author, copyright/ISBN pages, bylines, footers: kept in text
    # and chunks, but not an answer's best quote
    back_matter: tuple[Span, ...] = ()
    pages: tuple[Page, ...] = ()  # paged documents (PDF) only
    # per character of ``text``: its box on its page as (x0, y0, x1, y1), fractions of the page's width and
    # height from its top left; NaN where a character has no box (line and page breaks). Paged documents only;
    # kept beside the index, never in its records (qa/index/record_files.py write_boxes).
    boxes: np.ndarray | None = field(default=None, compare=False, repr=False)

    def page_range(self, start: int, end: int) -> str:
        return page_range(self.pages, start, end)


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    start: int
    end: int
    text: str  # == document.text[start:end]
    section: tuple[str, ...]
    sentences: tuple[Span, ...]  # absolute offsets of the sentences in this chunk
    embed_text: str  # cleaned text with title and section, what the model and BM25 read

    @staticmethod
    def make_id(source: str, start: int, end: int, text: str) -> str:
        h = hashlib.sha256(f"{source}\0{start}\0{end}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
        return h[:16]


@dataclass(frozen=True)
class SentenceSignals:
    """What the second stage measured of each sentence of one passage, in the chunk's order
    (qa/search/rerank.py), for the answer stage to weigh (qa/search/lead.py).

    The *topic* is the question without its names (qa/search/question.py); a question with no names is its
    own topic.
    """

    late: tuple[float, ...]  # ColBERT MaxSim of the topic inside the sentence
    cross: tuple[float, ...]  # cross-encoder logit of (topic, sentence)
    context: tuple[float, ...]  # cross-encoder logit of (question, previous sentence + sentence)
    answer: tuple[float, ...] = ()  # the answer head's score of (topic, sentence) (qa/models/answer_head.py); () none


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    dense: float | None = None  # best cosine similarity (chunk or sentence)
    bm25: float | None = None
    rank_dense: int | None = None
    rank_bm25: int | None = None
    rank_fused: int | None = None  # 1-based place in the first stage's list (the fused one in hybrid mode)
    row: int = -1  # the chunk's row in the index, for looking up its vectors
    sentence_scores: tuple[float, ...] = ()  # the question against each of chunk.sentences, in order
    late: float | None = None  # ColBERT MaxSim
    rank_late: int | None = None
    second: float | None = None  # bge-small-en cosine (chunk or sentence: qa/models/second.py)
    rank_second: int | None = None
    rerank: float | None = None  # the cross-encoder's relevance logit, when the hit was reranked
    back_matter: bool = False  # most of the chunk is references, about the author, imprint or bylines
    signals: SentenceSignals | None = None  # the second stage's sentence measurements, for the first few hits


@dataclass(frozen=True)
class Scores:
    """How one passage was ranked, each figure on its own scale, for a reader who asks (the page's "How this
    answer was chosen"): the hit's measurements, carried past the answer stage. None: not measured for it (a
    list the mode does not use, a passage outside a list's candidates, or past the cross-encoder's depth)."""

    rank: int | None = None  # place in the order the stages ranked it (the reranker's when reranked), from 1;
    # an answer shows the passage its lead sentence is from first, so this may differ from where it is shown
    rank_fused: int | None = None  # place in the first stage's list, from 1 (fused in hybrid mode)
    rerank: float | None = None  # the cross-encoder's relevance logit (higher is more relevant; not a probability)
    late: float | None = None  # ColBERT MaxSim: the sum over the question's 32 token vectors of each one's best cosine
    rank_late: int | None = None
    second: float | None = None  # bge-small-en cosine, -1 to 1 (the passage or its best sentence)
    rank_second: int | None = None
    dense: float | None = None  # cosine similarity, -1 to 1 (the passage or its best sentence)
    rank_dense: int | None = None
    bm25: float | None = None  # BM25, 0 and up (no fixed top)
    rank_bm25: int | None = None

    @classmethod
    def of(cls, hit: Hit, rank: int | None = None) -> Scores:
        return cls(rank=rank, rank_fused=hit.rank_fused, rerank=hit.rerank, late=hit.late, rank_late=hit.rank_late,
                   second=hit.second, rank_second=hit.rank_second, dense=hit.dense, rank_dense=hit.rank_dense,
                   bm25=hit.bm25, rank_bm25=hit.rank_bm25)

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class LeadReason:
    """Why the answer leads with its sentence: what the lead model (qa/search/lead.py) made of it."""

    probability: float  # the lead model's share for it among the candidates (they sum to 1; not calibrated)
    candidates: int  # how many quotable sentences it weighed
    features: tuple[tuple[str, float, float], ...]  # (feature, the lead's value, its weight), as lead.FEATURES
    considered: tuple[tuple[int, Span, float], ...] = ()  # every candidate (passage index, span, share), best first

    @property
    def runner_up(self) -> tuple[int, Span, float] | None:
        """The sentence it weighed second (passage index, span, share): what the reply quotes next, or None."""
        return self.considered[1] if len(self.considered) > 1 else None

    def to_dict(self) -> dict:
        return {"probability": round(self.probability, 4), "candidates": self.candidates,
                "features": [{"name": f, "value": round(v, 4), "weight": w} for f, v, w in self.features],
                "considered": [{"passage": i + 1, "start": a, "end": b, "probability": round(p, 4)}
                               for i, (a, b), p in self.considered]}


@dataclass(frozen=True)
class Passage:
    source: str
    title: str
    section: tuple[str, ...]
    start: int
    end: int
    text: str
    score: float
    highlights: tuple[Span, ...]  # absolute offsets of the answering sentence(s)
    highlight_scores: tuple[float, ...] = ()
    quotable: tuple[bool, ...] = ()  # per highlight: may it be quoted as the answer (not back matter, a citation...)
    pages: str = ""  # where a paged document prints it: "p. 12" or "pp. 12-13"; "" for text files
    scores: Scores | None = None  # how it was ranked, every figure with its scale

    @property
    def citation(self) -> str:
        where = f", section {' > '.join(self.section)}" if self.section else ""
        page = f", {self.pages}" if self.pages else ""
        return f"{self.title}{where}{page} [{self.start}:{self.end}]"


@dataclass(frozen=True)
class Answer:
    question: str  # as asked (cleaned)
    passages: tuple[Passage, ...]
    abstained: bool
    message: str = ""
    confidence: float = 0.0  # the figure the refusal threshold reads; what it is: ``kind``
    mode: str = "hybrid"
    level: str = "low"  # the confidence in words a reader uses: "high", "medium" or "low"
    build: str = ""  # the index build that answered; its documents are the ones cited
    lead: tuple[int, Span] | None = None  # (passage index, span) of the sentence the answer leads with
    short: Span | None = None  # the short answer inside the lead (a number, an amount, a name ...), document offsets
    chance: float | None = None  # calibrated chance that the lead answers (qa/search/answer.py lead_chance)
    kind: str = "logit"  # what ``confidence`` is: "logit", "late", "cross", "cosine" or "terms"
    searched: str = ""  # the question as searched when misspelt words were put right ("" when as asked)
    lead_reason: LeadReason | None = None  # why the lead model chose the lead (None: it did not choose it)
    timings: dict = field(default_factory=dict, compare=False)

    def short_text(self) -> str:
        """The short answer's text ("" when none is marked)."""
        if self.short is None or self.lead is None:
            return ""
        p = self.passages[self.lead[0]]
        return p.text[self.short[0] - p.start : self.short[1] - p.start]

    def lead_marked(self, mark: str = "**") -> str:
        """The lead sentence with its short answer between ``mark``s (as Markdown bold by default)."""
        if self.lead is None:
            return ""
        p, (a, b) = self.passages[self.lead[0]], self.lead[1]
        if self.short is None:
            return p.text[a - p.start : b - p.start]
        s, e = self.short
        return (p.text[a - p.start : s - p.start] + mark + p.text[s - p.start : e - p.start] + mark
                + p.text[e - p.start : b - p.start])

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "message": self.message,
            "confidence": round(self.confidence, 4),
            "level": self.level,
            "mode": self.mode,
            "build": self.build,
            "searched": self.searched or self.question,
            "confidence_kind": self.kind,
            "chance": None if self.chance is None else round(self.chance, 4),
            "lead": None if self.lead is None else {"passage": self.lead[0] + 1, "start": self.lead[1][0], "end": self.lead[1][1]},
            "lead_reason": None if self.lead_reason is None else self.lead_reason.to_dict(),
            "short": None if self.short is None else {"start": self.short[0], "end": self.short[1],
                                                      "text": self.short_text()},
            "passages": [
                {
                    "rank": i + 1,
                    "source": p.source,
                    "title": p.title,
                    "section": list(p.section),
                    "start": p.start,
                    "end": p.end,
                    "pages": p.pages or None,
                    "score": round(p.score, 6),
                    "text": p.text,
                    "highlights": [
                        {"start": s, "end": e, "score": round(sc, 4)}
                        for (s, e), sc in zip(p.highlights, p.highlight_scores or (0.0,) * len(p.highlights))
                    ],
                    "citation": p.citation,
                    "scores": None if p.scores is None else p.scores.to_dict(),
                }
                for i, p in enumerate(self.passages)
            ],
        }


SPAN_DTYPE = "int32"
"""How ColBERT token spans are stored: two int32 a token (8 bytes, half of int64's 16; at 100k chunks
10.7M tokens, 86 MB less). A document would need 2 GiB of text to reach past them (``stored_spans`` checks);
builds written with int64 spans are still read as they are."""


def stored_spans(spans) -> np.ndarray:
    """``spans`` as SPAN_DTYPE, or ValueError when an offset does not fit (a document of 2 GiB of text or more)."""
    import numpy as np

    spans = np.asarray(spans)
    if spans.dtype == SPAN_DTYPE:
        return spans
    info = np.iinfo(SPAN_DTYPE)
    if spans.size and (spans.min() < info.min or spans.max() > info.max):
        raise ValueError(f"A token span ({int(spans.min())}..{int(spans.max())}) lies past the {info.max:,} characters a "
                         "stored span can point to: split the document into files of under 2 GiB of text.")
    return spans.astype(SPAN_DTYPE)


@dataclass
class TokenIndex:
    """Every chunk's ColBERT token vectors stacked (written by qa/models/late.py, kept by the stores): chunk i is rows ``offsets[i]:offsets[i+1]``.

    ``vectors`` are as stored: float16 unit vectors, or with a ``codec`` (qa/models/late_codec.py) its
    uint8 codes. ``floats``, when set, holds all of them as float32 (decoded once at load when they fit,
    late_files.LATE_FLOAT32_MAX_BYTES); ``rows`` gives float32 vectors either way.
    """

    vectors: np.ndarray  # (tokens, dim) float16 / float32, unit length; or (tokens, code bytes) uint8 codes
    offsets: np.ndarray  # (chunks + 1,) int64
    spans: np.ndarray  # (tokens, 2) SPAN_DTYPE (int64 in older builds): the document characters each token covers
    codec: object | None = None  # late_codec.Codec that decodes ``vectors``; None: they are vectors
    floats: np.ndarray | None = None  # (tokens, dim) float32 of every token, when held in memory

    def chunk_rows(self, row: int) -> slice:
        return slice(int(self.offsets[row]), int(self.offsets[row + 1]))

    def rows(self, which) -> np.ndarray:
        """float32 vectors of token rows ``which`` (a slice or an index array), decoded if need be."""
        if self.floats is not None:
            return self.floats[which]
        if self.codec is not None:
            return self.codec.decode(self.vectors[which])
        return self.vectors[which].astype("float32")
