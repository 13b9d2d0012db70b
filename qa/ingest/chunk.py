"""Cut documents into chunks along sentence and paragraph boundaries.

Pure: a function of the document, the settings and a token counter. A chunk
never crosses a heading or layout debris, never exceeds what the model reads
(its body plus the title/section prefix), and keeps ``start``/``end`` offsets
so ``doc.text[start:end] == chunk.text``. Sentences are found with blingfire.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..config import ChunkSettings
from ..records import Chunk, Document, Span
from .structure import BULLET, Sections, lines_with_offsets

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Counts word pieces of each text, without the model's special tokens."""

SPECIAL_TOKENS = 2  # [CLS] and [SEP], added by the model to every input
COUNT_BATCH = 4096
"""Sentences counted per tokenizer call: all of a 50 MB text's at once held ~1 GB of tokenizer records."""
COUNT_CHARS = 1_000_000
"""Characters counted per tokenizer call, however few the texts: the tokenizer's records grow with the text."""
SENTENCE_WINDOW = 100_000
"""Characters of a paragraph given to the sentence splitter at once; a "sentence" with no end inside one
window is cut at a space. Nothing downstream (cleaning, counting, cutting at words) then sees more than this
at once: a 50 MB line held as one sentence took 12.2 GB to chunk. A real sentence is far shorter, and one
this long is over any budget and cut at words anyway."""


def clean(text: str) -> str:
    """What the model and BM25 read: hyphenation at line ends joined, emphasis marks and runs of white space removed."""
    if "-\n" in text:
        text = re.sub(r"(\w)-\n\s*(\w)", r"\1\2", text)
    if "**" in text:
        text = text.replace("**", "")
    return " ".join(text.split())  # the same white space as re's \s, several times faster


def split_sentences(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans (absolute offsets) inside ``text[start:end]``, found by blingfire.

    blingfire's sentence breaker is a compiled finite-state model (MIT licence, shipped in its wheel),
    linear in the length of the text. It replaced pysbd's rules, which cost ~10 s per MB and grew with
    the square of a paragraph's length; on the seeds the two agree on 1,325 of pysbd's 1,334 sentence
    ends, blingfire also splitting some quoted speech (1,388 sentences). ``benchmarks/README.md``, "Chunking".

    A paragraph longer than SENTENCE_WINDOW is split a window at a time: each window's last sentence, which
    may run on past it, starts the next window, so no sentence is cut in two; a window without a sentence end
    is cut at its last space.
    """
    spans: list[Span] = []
    pos = start
    while pos < end:
        stop = min(end, pos + SENTENCE_WINDOW)
        # Line breaks inside a paragraph are wrapping, not sentence ends; a space keeps offsets.
        para = text[pos:stop].replace("\n", " ")
        try:
            offsets = sentence_offsets(para)
        except Exception:  # any failure keeps the window whole rather than losing it
            offsets = [(0, len(para))]
        offsets = [(a, b) for a, b in offsets if para[a:b].strip()]
        if stop == end or not offsets:
            keep, following = offsets, stop
        elif len(offsets) > 1:
            keep, following = offsets[:-1], pos + offsets[-1][0]
        else:  # no sentence ends in the window: cut it at a space in its second half
            cut = para.rfind(" ", len(para) // 2)
            cut = cut if cut > offsets[0][0] else len(para)
            keep, following = [(offsets[0][0], cut)], pos + cut
        for a, b in keep:
            piece = para[a:b]
            lead, trail = len(piece) - len(piece.lstrip()), len(piece) - len(piece.rstrip())
            if b - trail > a + lead:
                spans.append((pos + a + lead, pos + b - trail))
        pos = following
    return spans


@lru_cache(maxsize=1)
def _blingfire():
    import blingfire

    return blingfire.blingfire  # the shared library (ctypes); its Python wrapper maps offsets byte by byte


def sentence_offsets(para: str) -> list[Span]:
    """blingfire's sentences of ``para`` as (start, end) character offsets, end exclusive.

    Calls the library directly: its own wrapper maps UTF-8 byte offsets to characters in a Python loop
    over every byte, which was most of the splitting time; here that is one numpy cumulative sum.
    """
    import ctypes

    data = para.encode("utf-8", "surrogatepass")
    if not data.strip():
        return []
    cap = 2 * len(data) + 16
    out = ctypes.create_string_buffer(cap)
    starts, ends = (ctypes.c_int32 * cap)(), (ctypes.c_int32 * cap)()
    got = _blingfire().TextToSentencesWithOffsets(ctypes.c_char_p(data), ctypes.c_int(len(data)), ctypes.byref(out),
                                                  ctypes.byref(starts), ctypes.byref(ends), ctypes.c_int(cap))
    if got < 0 or got > cap:
        raise ValueError("blingfire could not split this text")
    n = out.value.count(b"\n") + 1
    a = np.frombuffer(starts, dtype=np.int32, count=n).astype(np.int64)
    b = np.frombuffer(ends, dtype=np.int32, count=n).astype(np.int64) + 1  # its ends are inclusive
    if len(data) != len(para):  # not ASCII: byte offsets -> character offsets
        lead = (np.frombuffer(data, dtype=np.uint8) & 0xC0) != 0x80
        chars_before = np.concatenate([[0], np.cumsum(lead)])
        a, b = chars_before[np.minimum(a, len(data))], chars_before[np.minimum(b, len(data))]
    return [(int(x), int(y)) for x, y in zip(a, b)]


def paragraphs(doc: Document) -> list[tuple[Span, bool]]:
    """Body paragraphs as (span, breaks_before): blank lines, bullets, headings and debris separate them.

    ``breaks_before`` is True where a heading or debris stands between this
    paragraph and the previous one, so no chunk may join them.
    """
    blocked = sorted([(h.start, h.end) for h in doc.headings] + list(doc.skipped))
    out: list[tuple[Span, bool]] = []
    cur: list[int] | None = None
    hard = False

    def in_blocked(s: int, e: int) -> bool:
        return any(a < e and s < b for a, b in blocked)

    def flush() -> None:
        nonlocal cur, hard
        if cur:
            out.append(((cur[0], cur[1]), hard))
            hard = False
        cur = None

    for s, e, line in lines_with_offsets(doc.text):
        if not line.strip():
            flush()
            continue
        if in_blocked(s, e):
            flush()
            hard = True
            continue
        a = s + len(line) - len(line.lstrip())
        b = e - (len(line) - len(line.rstrip()))
        if cur is None or BULLET.match(line):
            flush()
            cur = [a, b]
        else:
            cur[1] = b
    flush()
    return out


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int
    para_start: bool
    hard_break: bool


def _split_long(doc_text: str, span: Span, budget: int, count: TokenCounter) -> list[tuple[Span, int]]:
    """Cut a sentence longer than ``budget`` word pieces at word boundaries."""
    start, end = span

    def counted():  # (word span, word pieces), counted COUNT_BATCH words at a time
        batch: list[Span] = []
        for m in re.finditer(r"\S+", doc_text[start:end]):
            batch.append((m.start() + start, m.end() + start))
            if len(batch) == COUNT_BATCH:
                yield from zip(batch, count([clean(doc_text[a:b]) for a, b in batch]))
                batch = []
        if batch:
            yield from zip(batch, count([clean(doc_text[a:b]) for a, b in batch]))

    out, cur_start, cur_tokens, last_end = [], None, 0, None
    for (a, b), n in counted():
        n = min(n, budget)
        if cur_start is not None and cur_tokens + n > budget:
            out.append(((cur_start, last_end), cur_tokens))
            cur_start, cur_tokens = None, 0
        if cur_start is None:
            cur_start = a
        cur_tokens += n
        last_end = b
    if cur_start is not None:
        out.append(((cur_start, last_end), cur_tokens))
    # A single "word" longer than the budget (e.g. a run of symbols) is cut by characters.
    fixed = []
    for (a, b), n in out:
        if n <= budget or b - a <= 1:
            fixed.append(((a, b), n))
            continue
        step = max(1, (b - a) * budget // (n + 1))
        for x in range(a, b, step):
            y = min(b, x + step)
            fixed.append(((x, y), min(budget, count([clean(doc_text[x:y])])[0])))
    return fixed


def context_prefix(doc: Document, section: tuple[str, ...]) -> str:
    parts = [doc.title] + [s for s in section if s != doc.title]
    return " | ".join(parts)


def model_text(raw: str, prefix: str = "") -> str:
    """The one text the model and BM25 read for a span of a document: the optional prefix, then the cleaned span."""
    body = clean(raw)
    return f"{prefix}\n{body}" if prefix else body


class Prefixer:
    """The "title | section" prefix of one document's chunks and sentences, cut to ``max_prefix_tokens``.

    Returns (prefix, word pieces it costs with its separator); ("", 0) unless ``settings.contextual``.
    """

    def __init__(self, doc: Document, settings: ChunkSettings, count: TokenCounter) -> None:
        self.doc, self.settings, self.count = doc, settings, count
        self._cache: dict[tuple[str, ...], tuple[str, int]] = {}

    def __call__(self, section: tuple[str, ...]) -> tuple[str, int]:
        if not self.settings.contextual:
            return "", 0
        if section not in self._cache:
            text = context_prefix(self.doc, section)
            n = self.count([text])[0] if text else 0
            while n > self.settings.max_prefix_tokens and " " in text:
                text = text.rsplit(" ", 1)[0]
                n = self.count([text])[0]
            self._cache[section] = (text, n + 1 if text else 0)  # +1 for the separator
        return self._cache[section]


def chunk_document(doc: Document, count: TokenCounter, settings: ChunkSettings, max_seq_tokens: int) -> list[Chunk]:
    """Cut one document into chunks; see the module docstring for the guarantees."""
    units: list[tuple[_Unit, tuple[str, ...]]] = []
    spans: list[tuple[Span, bool, bool]] = []
    for (ps, pe), hard in paragraphs(doc):
        for i, sp in enumerate(split_sentences(doc.text, ps, pe)):
            spans.append((sp, i == 0, hard and i == 0))
    if not spans:
        return []
    sentence_tokens: list[int] = []
    batch: list[str] = []
    size = 0
    for (a, b), _, _ in spans:  # in batches: the tokenizer's per-text records are large
        batch.append(clean(doc.text[a:b]))
        size += len(batch[-1])
        if len(batch) == COUNT_BATCH or size >= COUNT_CHARS:
            sentence_tokens += count(batch)
            batch, size = [], 0
    sentence_tokens += count(batch) if batch else []
    prefix_for = Prefixer(doc, settings, count)
    section_at = Sections(doc.headings)

    for ((a, b), para_start, hard), n in zip(spans, sentence_tokens):
        section = section_at(a)
        budget = min(settings.max_tokens, max_seq_tokens - SPECIAL_TOKENS - prefix_for(section)[1])
        pieces = [((a, b), n)] if n <= budget else _split_long(doc.text, (a, b), budget, count)
        for j, (sp, m) in enumerate(pieces):
            units.append((_Unit(sp[0], sp[1], m, para_start and j == 0, hard and j == 0), section))

    chunks: list[Chunk] = []
    cur: list[_Unit] = []
    cur_section: tuple[str, ...] | None = None

    def emit() -> None:
        if not cur:
            return
        start, end = cur[0].start, cur[-1].end
        text = doc.text[start:end]
        chunks.append(
            Chunk(
                id=Chunk.make_id(doc.source, start, end, text),
                source=doc.source,
                start=start,
                end=end,
                text=text,
                section=cur_section,
                sentences=tuple((u.start, u.end) for u in cur),
                embed_text=model_text(text, prefix_for(cur_section)[0]),
            )
        )

    for unit, section in units:
        budget = min(settings.max_tokens, max_seq_tokens - SPECIAL_TOKENS - prefix_for(section)[1])
        size = sum(u.tokens for u in cur)
        new_section = section != cur_section or unit.hard_break
        full = size + unit.tokens > budget
        soft = unit.para_start and size >= settings.paragraph_fill * budget
        if cur and (new_section or full or soft):
            emit()
            carry: list[_Unit] = []
            if not new_section and settings.overlap_tokens:
                for u in reversed(cur[1:]):
                    if sum(x.tokens for x in carry) + u.tokens > settings.overlap_tokens:
                        break
                    carry.insert(0, u)
                if sum(x.tokens for x in carry) + unit.tokens > budget:
                    carry = []
            cur = carry
        cur_section = section
        cur.append(unit)
    emit()
    return chunks
