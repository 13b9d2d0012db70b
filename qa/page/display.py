"""Source text as the page shows it: escaped, Markdown debris hidden, sentences marked at their exact offsets.

All escaping lives here. Every piece of document text, title, section, file
name or message goes through :func:`esc` before the page's modules place it in
markup (``reply``, ``conversation``, ``panel`` and ``render``), so a document
containing ``<script>`` shows it as text. Nothing here needs Gradio.

Markdown debris in source files (``[Ham 2018](#)``, ``*emphasis*``, doubled
quotation marks, runs of blank lines) is hidden when shown (:func:`debris`):
display only, offsets stay exact and the highlighted text is still
``document.text[start:end]``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from ..records import Span
from ..search.quotable import MD_LINK


def esc(text: object) -> str:
    """Text as inert HTML: ``<``, ``>``, ``&`` and both quotes become entities."""
    return html.escape(str(text), quote=True)


# -- display cleaning: Markdown debris hidden, offsets untouched -----------------------------------

_LINK = MD_LINK
_EMPH = re.compile(r"(?<![\w*\\])(\*{1,3}|_{1,2})(?=[^\s*_])((?:[^\n]|\n(?![ \t]*\n)){1,400}?)(?<=[^\s*_\\])\1(?![\w*])")
"""Emphasis markers around up to 400 characters, within a paragraph (bold that wraps onto a second line too)."""
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.M)
_BULLET = re.compile(r"^[ \t]*[•▪◦‣][ \t]+", re.M)
_DOUBLED_QUOTES = re.compile(r"([\"“”])\1+")
_BLANK_RUN = re.compile(r"\n[ \t]*\n((?:[ \t]*\n)+)")


def debris(text: str) -> list[Span]:
    """Character spans of ``text`` that are Markdown syntax rather than words, sorted and disjoint.

    ``[Ham 2018](#)`` keeps "Ham 2018"; ``*x*`` and ``__x__`` keep x; ``""`` keeps one mark;
    ``## `` and a bullet ("• ") at a line start go; a run of blank lines keeps one.
    """
    spans: list[Span] = []
    for m in _LINK.finditer(text):
        spans += [(m.start(), m.start() + 1), (m.end(1), m.end())]
    for m in _EMPH.finditer(text):
        n = len(m.group(1))
        spans += [(m.start(), m.start() + n), (m.end() - n, m.end())]
    spans += [(m.start(), m.end()) for m in _HEADING.finditer(text)]
    spans += [(m.start(), m.end()) for m in _BULLET.finditer(text)]
    spans += [(m.start() + 1, m.end()) for m in _DOUBLED_QUOTES.finditer(text)]
    spans += [(m.start(1), m.end(1)) for m in _BLANK_RUN.finditer(text)]
    merged: list[list[int]] = []
    for a, b in sorted(s for s in spans if s[0] < s[1]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _drop(text: str, offset: int, hidden: Sequence[Span]) -> str:
    """``text`` (starting at absolute ``offset``) without the characters in ``hidden``."""
    if not hidden:
        return text
    out, pos, end = [], offset, offset + len(text)
    for a, b in hidden:
        if b <= pos or a >= end:
            continue
        if a > pos:
            out.append(text[pos - offset : a - offset])
        pos = max(pos, b)
    if pos < end:
        out.append(text[pos - offset :])
    return "".join(out)


def display_text(text: str) -> str:
    """``text`` as the page shows it: Markdown debris hidden (display only)."""
    return _drop(text, 0, debris(text))


_LIST_ITEM = re.compile(r"[ \t]*\n[ \t]*(?=(?:[-*•▪◦‣–]|\d{1,3}[.)]|\([a-z0-9]{1,3}\))[ \t])")
"""A line break before a list item ("- ", "• ", "1. ", "(a) "): kept, so items do not run together."""


def _flow(text: str) -> str:
    """Escaped text on one line: paragraph breaks and list items become <br>, other runs of space one space."""
    paras = re.split(r"\s*\n\s*\n\s*", text)
    body = "<br>".join("<br>".join(esc(" ".join(item.split())) for item in _LIST_ITEM.split(p)) for p in paras)
    lead = " " if text[:1].isspace() and not body.startswith("<br>") else ""
    tail = " " if text[-1:].isspace() and not body.endswith("<br>") else ""
    return lead + body + tail


def _segments(text: str, offset: int, spans: Sequence[Span]) -> list[tuple[int, int, bool]]:
    """``text`` (starting at absolute ``offset``) cut into absolute (start, end, highlighted) around ``spans``."""
    out, pos, end = [], offset, offset + len(text)
    for a, b in sorted(spans):
        a, b = max(a, pos), min(b, end)
        if a >= b:
            continue
        if a > pos:
            out.append((pos, a, False))
        out.append((a, b, True))
        pos = b
    if pos < end:
        out.append((pos, end, False))
    return out


def _marked(text: str, offset: int, spans: Sequence[Span], flow: bool = True, hidden: Sequence[Span] | None = None,
            tag: str = "mark", cls: str = "qa-sentence") -> str:
    """``text`` escaped, the ``spans`` wrapped in ``<mark class="qa-sentence">``, debris hidden."""
    write = _flow if flow else esc
    if hidden is None:
        hidden = [(a + offset, b + offset) for a, b in debris(text)]
    out = []
    for a, b, hit in _segments(text, offset, spans):
        piece = write(_drop(text[a - offset : b - offset], a, hidden))
        out.append(f'<{tag} class="{cls}" data-start="{a}" data-end="{b}">{piece}</{tag}>' if hit else piece)
    return "".join(out)


def section_words(section: Sequence[str]) -> str:
    return " › ".join(display_text(s) for s in section)


def gist(text: str, limit: int) -> str:
    """``text`` as shown on the page, on one line, cut at a word to at most ``limit`` characters with " …"."""
    out = " ".join(display_text(text).split())
    return out if len(out) <= limit else out[:limit].rsplit(" ", 1)[0] + " …"
