"""Which sentences may be quoted as an answer: prose, not back matter, a citation, a fragment or a lead-in.

    >>> prose_words("Partnership working matters ([Ham 2018](https://example.org)).")
    ['Partnership', 'working', 'matters']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..records import Document, Hit, Span

CITATION = re.compile(
    r"""^\W*(?:
        \[?\d{1,3}[\].]\s+[A-Z]              # [12] Author / 12. Author
      | [A-Z][\w'’-]+,?\s+(?:[A-Z]{1,3}\b|[A-Z]\.)  # Timmins N / Ham, C.
      | .*\(\d{4}[a-z]?\)[.,]                # ... (2016). Title
      | .*\b(?i:doi|isbn)\b                 # identifiers
      | .*(?i:https?://|www\.)               # links
      | \(?\[?[^\]]{0,60}\]\(                # a Markdown link as the whole sentence
    )""",
    re.X,
)
"""A sentence that looks like a reference-list entry or a citation, not prose that answers."""

REFERENCE = re.compile(r"\[online\]|available (?:at|from)\s*:|https?://|www\.|\bdoi:|\bISBN\b", re.I)
"""Marks of a bibliography entry anywhere in a sentence."""

MIN_QUOTE_WORDS = 4
"""Fewer words than this (not counting a citation in brackets or a link's address) is a fragment such as
"([Timmins 2015](#))", not a sentence that answers."""

MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\(([^()\s]{0,500})\)")
"""A Markdown link: its words in group 1, its address in group 2 (the page hides the syntax too)."""


def prose_words(text: str) -> list[str]:
    """The words of a sentence, without link addresses and bracketed citations such as (Ham 2018)."""
    bare = MD_LINK.sub(r"\1", text)
    bare = re.sub(r"\([^()]*\d{4}[a-z]?[^()]*\)", " ", bare)
    return re.findall(r"[^\W\d_]{2,}", bare)


def quotable(doc: Document, span: Span, text: str) -> bool:
    """Can this sentence be quoted as the answer: prose, not back matter, a citation, a fragment or a lead-in?"""
    a, b = span
    if any(x < b and a < y for x, y in doc.back_matter):
        return False
    t = " ".join(text.split())
    return (not CITATION.match(t) and not REFERENCE.search(t) and not t.endswith(":")
            and len(prose_words(t)) >= MIN_QUOTE_WORDS)


def quotable_flags(hits: Sequence[Hit], docs: Mapping[str, Document], passages: int = 3) -> list[list[bool]]:
    """Per hit, per sentence: may it lead (prose, not back matter, a citation, a fragment or a lead-in)?"""
    out = []
    for h in hits[:passages]:
        c, doc = h.chunk, docs[h.chunk.source]
        out.append([quotable(doc, (a, b), c.text[a - c.start : b - c.start]) for a, b in c.sentences])
    return out
