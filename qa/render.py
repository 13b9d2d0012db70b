"""HTML for the chat page: answers with citation markers, passage cards, and the source panel.

All escaping lives here. Every piece of document text, title, section, file
name or message goes through :func:`esc` before it is placed in markup, so a
document containing ``<script>`` shows it as text. Nothing here needs Gradio:
the page (``app.py``) only passes these strings to its components.

A citation marker and a card's "Show in document" button carry a *reference*
(:func:`cite_ref`): source, passage span and highlighted spans. A click on
either sends it back to Python, where :func:`parse_ref` checks it and the page
opens the document through ``Engine.document``, which refuses anything that
is not indexed.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, unquote
from collections.abc import Sequence

from .answer import best_sentences
from .records import Answer, Document, Passage, Span

MODE_CHOICES = (("Hybrid", "hybrid"), ("Semantic", "dense"), ("Keyword", "bm25"))
"""Retrieval modes as the page names them, with the engine's name for each."""

MODE_ALIASES = {label.lower(): mode for label, mode in MODE_CHOICES} | {mode: mode for _, mode in MODE_CHOICES}

MAX_REF_CHARS = 1000
"""A reference longer than this did not come from a card: refuse it before parsing."""

HREF_PREFIX = "#qa-cite/"

FOCUS_ID = "qa-focus"
"""Element id of the passage in the source panel; the page scrolls it into view."""


class BadReferenceError(ValueError):
    """A citation reference that this module did not write (or that points outside its document)."""


def esc(text: object) -> str:
    """Text as inert HTML: ``<``, ``>``, ``&`` and both quotes become entities."""
    return html.escape(str(text), quote=True)


def mode_name(mode: str) -> str:
    """The engine's mode for a page label or engine name ("Semantic" -> "dense")."""
    key = str(mode).strip().lower()
    if key not in MODE_ALIASES:
        choices = ", ".join(f"{label.lower()} ({m})" for label, m in MODE_CHOICES)
        raise ValueError(f"Unknown retrieval mode {mode!r}. Choose one of: {choices}.")
    return MODE_ALIASES[key]


# -- references ------------------------------------------------------------------------------------


def cite_ref(p: Passage) -> str:
    """``source|start|end|a-b,c-d``: what a click on a citation sends back to the page."""
    spans = ",".join(f"{a}-{b}" for a, b in p.highlights)
    return f"{p.source}|{p.start}|{p.end}|{spans}"


def parse_ref(ref: object) -> tuple[str, int, int, tuple[Span, ...]]:
    """``(source, start, end, highlights)`` from :func:`cite_ref`'s string, or BadReferenceError."""
    if not isinstance(ref, str) or not ref or len(ref) > MAX_REF_CHARS:
        raise BadReferenceError("That citation link is not valid. Click a citation marker or a card's button.")
    parts = ref.rsplit("|", 3)
    if len(parts) != 4:
        raise BadReferenceError("That citation link is not valid. Click a citation marker or a card's button.")
    source, start, end, spans = parts
    try:
        a, b = int(start), int(end)
        hls = tuple(tuple(int(x) for x in s.split("-", 1)) for s in spans.split(",") if s)
    except ValueError:
        raise BadReferenceError("That citation link is not valid. Click a citation marker or a card's button.") from None
    if any(len(h) != 2 for h in hls):
        raise BadReferenceError("That citation link is not valid. Click a citation marker or a card's button.")
    return source, a, b, hls


def check_span(doc: Document, start: int, end: int, highlights: Sequence[Span]) -> None:
    """BadReferenceError unless the passage and its highlights lie inside the document's text."""
    if not 0 <= start < end <= len(doc.text):
        raise BadReferenceError(f"The passage [{start}:{end}] is outside {doc.source} ({len(doc.text)} characters).")
    for a, b in highlights:
        if not start <= a < b <= end:
            raise BadReferenceError(f"The highlighted sentence [{a}:{b}] is outside its passage [{start}:{end}].")


# -- marked-up text --------------------------------------------------------------------------------


def _segments(text: str, offset: int, spans: Sequence[Span]) -> list[tuple[str, bool]]:
    """``text`` (starting at absolute ``offset``) cut into (piece, highlighted) around ``spans``."""
    out, pos = [], 0
    for a, b in sorted(spans):
        a, b = max(a - offset, pos), min(b - offset, len(text))
        if a >= b:
            continue
        if a > pos:
            out.append((text[pos:a], False))
        out.append((text[a:b], True))
        pos = b
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def _flow(text: str) -> str:
    """Escaped text on one line: paragraph breaks become <br>, other runs of space one space.

    Chat messages are single-line HTML so the chat's Markdown never reads inside them.
    """
    paras = re.split(r"\s*\n\s*\n\s*", text)
    body = "<br>".join(esc(" ".join(p.split())) for p in paras)
    lead = " " if text[:1].isspace() and not body.startswith("<br>") else ""
    tail = " " if text[-1:].isspace() and not body.endswith("<br>") else ""
    return lead + body + tail


def _marked(text: str, offset: int, spans: Sequence[Span], flow: bool = True) -> str:
    write = _flow if flow else esc
    return "".join(
        f'<mark class="qa-sentence">{write(piece)}</mark>' if hit else write(piece)
        for piece, hit in _segments(text, offset, spans)
    )


def cite_href(p: Passage) -> str:
    """The link a citation carries: ``#qa-cite/`` and the URL-encoded reference.

    A fragment link survives the chat's HTML sanitiser (data attributes do not); the
    page's script catches the click, so the browser never navigates.
    """
    return HREF_PREFIX + quote(cite_ref(p), safe="")


def ref_from_href(href: str) -> str:
    return unquote(href[len(HREF_PREFIX):]) if isinstance(href, str) and href.startswith(HREF_PREFIX) else href


def _cite(n: int, p: Passage, cls: str = "qa-cite", label: str = "") -> str:
    where = f" — {' › '.join(p.section)}" if p.section else ""
    return (
        f'<a class="{cls}" href="{esc(cite_href(p))}" role="button" '
        f'title="Open {esc(p.title + where)} in the source panel">{label or f"[{n}]"}</a>'
    )


# -- the chat reply --------------------------------------------------------------------------------


def card_html(n: int, p: Passage) -> str:
    section = esc(" › ".join(p.section)) if p.section else "<i>no section</i>"
    best = max(p.highlight_scores, default=None)
    match = f' · <span title="cosine similarity of the highlighted sentence to the question">sentence match {best:.2f}</span>' if best is not None else ""
    return (
        f'<div class="qa-card" data-source="{esc(p.source)}">'
        f'<div class="qa-card-head">{_cite(n, p, "qa-cite qa-num")}'
        f'<span class="qa-card-title">{esc(p.title)}</span></div>'
        f'<div class="qa-card-meta">{section} · <span title="retrieval score">score {p.score:.4f}</span>{match}'
        f' · <span class="qa-span">{esc(p.source)} [{p.start}:{p.end}]</span></div>'
        f'<div class="qa-card-text">{_marked(p.text, p.start, p.highlights)}</div>'
        f'{_cite(n, p, "qa-show", "Show in document →")}'
        "</div>"
    )


def answer_html(answer: Answer) -> str:
    """The reply: the best sentence(s) quoted with [n] markers, then a card per passage.

    When the engine abstains the reply says so first, plainly, and lists the
    nearest passages under a heading that does not call them an answer.
    """
    parts = [f'<div class="qa-answer{" qa-weak" if answer.abstained else ""}">']
    if answer.abstained:
        parts.append(f'<div class="qa-abstain"><b>No answer found.</b> {esc(answer.message)}</div>')
        label = "Nearest passages (not an answer)" if answer.passages else ""
    else:
        quotes = []
        for n, sentence in best_sentences(answer):
            quotes.append(f'<span class="qa-quote-text">“{esc(" ".join(sentence.split()))}”</span> {_cite(n, answer.passages[n - 1])}')
        parts.append(f'<div class="qa-quote">{"<br>".join(quotes)}</div>')
        label = f"Sources ({len(answer.passages)})"
    if label:
        parts.append(f'<div class="qa-cards-label">{label}</div>')
        parts.extend(card_html(n, p) for n, p in enumerate(answer.passages, 1))
    parts.append("</div>")
    return "".join(parts)


def error_html(message: str) -> str:
    return f'<div class="qa-answer"><div class="qa-abstain"><b>Cannot answer.</b> {esc(message)}</div></div>'


# -- the source panel ------------------------------------------------------------------------------


PANEL_EMPTY = (
    '<div class="qa-panel qa-panel-empty"><div class="qa-doc-title">Source</div>'
    "<p>Click a citation marker such as <b>[1]</b>, or <b>Show in document</b> on a card, to read the "
    "passage in its document here.</p></div>"
)


def panel_error_html(message: str) -> str:
    return f'<div class="qa-panel qa-panel-empty"><div class="qa-doc-title">Source</div><p class="qa-panel-error">{esc(message)}</p></div>'


def section_at(doc: Document, offset: int) -> tuple[str, ...]:
    """The heading path in force at ``offset`` (deepest last)."""
    path: list[tuple[int, str]] = []
    for h in doc.headings:
        if h.start > offset:
            break
        path = [x for x in path if x[0] < h.level] + [(h.level, h.title)]
    return tuple(t for _, t in path)


def panel_html(doc: Document, start: int, end: int, highlights: Sequence[Span] = ()) -> str:
    """The whole document, escaped, with the passage marked and its answering sentence(s) marked strongly.

    The passage carries ``id="qa-focus"`` so the page can scroll it into view.
    """
    check_span(doc, start, end, highlights)
    meta = [m for m in (doc.author, doc.publisher, doc.date) if m]
    if doc.publisher and doc.publisher == doc.author:
        meta.remove(doc.publisher)
    section = section_at(doc, start)
    where = f"{esc(' › '.join(section))} · " if section else ""
    text = doc.text
    body = (
        esc(text[:start])
        + f'<mark class="qa-passage" id="{FOCUS_ID}">{_marked(text[start:end], start, highlights, flow=False)}</mark>'
        + esc(text[end:])
    )
    return (
        f'<div class="qa-panel" data-source="{esc(doc.source)}">'
        f'<div class="qa-doc-head"><div class="qa-doc-title">{esc(doc.title)}</div>'
        f'<div class="qa-doc-meta">{" · ".join(esc(m) for m in meta) or "<i>author and date not catalogued</i>"}</div>'
        f'<div class="qa-doc-where">{where}{esc(doc.source)}, characters {start}–{end}</div></div>'
        f'<div class="qa-doc-text" id="qa-doc-text">{body}</div></div>'
    )
