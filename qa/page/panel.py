"""The source panel: the document around a cited passage, with the passage and its answering sentence(s)
marked at their exact offsets, or a paged document's page as printed with them boxed (``qa.page.pages``).

The panel opens only what an answer cited: the page finds the span from the answer's turn and marker number
and checks it against the document (:func:`check_span`) before either view is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import Document, Span
from .display import _drop, _marked, debris, display_text, esc, section_words

FOCUS_ID = "qa-focus"
"""Element id of the passage in the source panel; the page scrolls it into view."""


class BadReferenceError(ValueError):
    """A citation that points outside its document, or a highlight outside its passage."""


def check_span(doc: Document, start: int, end: int, highlights: Sequence[Span]) -> None:
    """BadReferenceError unless the passage and its highlights lie inside the document's text."""
    if not 0 <= start < end <= len(doc.text):
        raise BadReferenceError(f"The passage [{start}:{end}] is outside {doc.source} ({len(doc.text)} characters).")
    for a, b in highlights:
        if not start <= a < b <= end:
            raise BadReferenceError(f"The highlighted sentence [{a}:{b}] is outside its passage [{start}:{end}].")


PANEL_EMPTY = (
    '<div class="qa-panel qa-panel-empty"><h2 class="qa-panel-label">Source</h2>'
    "<p>Choose a citation marker such as <b>[1]</b>, or <b>Show in document</b> on a source, to read the "
    "passage in its document here.</p></div>"
)


def panel_empty(answer_no: int | None = None) -> str:
    if not answer_no:
        return PANEL_EMPTY
    return (f'<div class="qa-panel qa-panel-empty"><h2 class="qa-panel-label">Source</h2>'
            f"<p>Answer {answer_no}: choose a citation marker such as <b>[1]</b> to read its passage here.</p></div>")


def panel_error_html(message: str) -> str:
    return (f'<div class="qa-panel qa-panel-empty"><h2 class="qa-panel-label">Source</h2>'
            f'<p class="qa-panel-error">{esc(message)}</p></div>')


def section_at(doc: Document, offset: int) -> tuple[str, ...]:
    """The heading path in force at ``offset`` (deepest last): the structure stage's rule, for one document."""
    from ..ingest.structure import section_at as path_at

    return path_at(doc.headings, offset)


def doc_meta(doc: Document) -> list[str]:
    meta = [m for m in (doc.author, doc.publisher, doc.date) if m]
    if doc.publisher and doc.publisher == doc.author:
        meta.remove(doc.publisher)
    return meta


def _view_button(turn: int | None, n: int | None, view: str, page: int | None = None) -> str:
    """The switch between a paged document's page view and its extracted text."""
    if not (turn and n):
        return ""
    words = "Page view" if view == "page" else "Text view"
    where = f' data-page="{page}"' if page is not None else ""
    return (f'<button type="button" class="qa-btn qa-step qa-view" data-action="page" data-turn="{turn}" data-n="{n}" '
            f'data-view="{view}"{where} title="Show the {"page as printed" if view == "page" else "text read from it"}">'
            f'{words}</button>')


def _box(rect, cls: str, focus: bool = False) -> str:
    x0, y0, x1, y1 = (max(0.0, min(1.0, v)) for v in rect)
    pad = 0.002
    at = f' id="{FOCUS_ID}"' if focus else ""
    return (f'<span class="{cls}"{at} aria-hidden="true" style="left:{100 * (x0 - pad):.3f}%;'
            f'top:{100 * (y0 - pad):.3f}%;width:{100 * (x1 - x0 + 2 * pad):.3f}%;height:{100 * (y1 - y0 + 2 * pad):.3f}%">'
            '</span>')


def page_words(doc: Document, index: int) -> str:
    """"Page 12 (14 of 80)" when the printed number differs from the count, else "Page 12 of 80"."""
    p = doc.pages[index]
    if p.label == str(p.number):
        return f"Page {p.label} of {len(doc.pages)}"
    return f"Page {p.label} ({p.number} of {len(doc.pages)})"


def page_panel_html(view, start: int, end: int, turn: int | None = None, n: int | None = None,
                    total: int | None = None, note: str = "") -> str:
    """A paged document's page as printed (``view``: qa/page/pages.py PageView) with the passage boxed and its
    answering sentence(s) marked; previous / next page, and a switch to the text view."""
    import base64

    doc, i = view.doc, view.index
    first = (view.highlights or view.passage)[:1]
    boxes = ("".join(_box(r, "qa-pbox") for r in view.passage)
             + "".join(_box(r, "qa-hbox") for r in view.highlights)
             + "".join(_box(r, "qa-focusbox", focus=True) for r in first))
    here = [b for b in view.spans if b != i]
    if i in view.spans:
        said = "The passage is boxed on this page" + (
            f" and continues on page {doc.pages[here[0]].label}" if here and here[0] > i else
            f" and begins on page {doc.pages[here[0]].label}" if here else "") + "."
    else:
        said = f"The passage is on page {doc.pages[view.spans[0]].label}."
    a, b = max(start, doc.pages[i].start), min(end, doc.pages[i].end)
    step = ""
    if turn and n:
        for to, words, sign in ((i - 1, "‹ Page", "Previous page"), (i + 1, "Page ›", "Next page")):
            if 0 <= to < len(doc.pages):
                step += (f'<button type="button" class="qa-btn qa-step" data-action="page" data-turn="{turn}" '
                         f'data-n="{n}" data-view="page" data-page="{to}" aria-label="{sign}, page '
                         f'{esc(doc.pages[to].label)}">{words}</button>')
    image = base64.b64encode(view.png).decode("ascii")
    alt = f"{page_words(doc, i)} of {display_text(doc.title)}, as printed"
    sr = f'<p class="qa-sr">The passage: {esc(doc.text[a:b])}</p>' if a < b else ""
    return _panel_frame(
        doc, start, turn, n, total,
        extra=_view_button(turn, n, "text"),
        where=page_words(doc, i) + (" · read by OCR" if doc.pages[i].ocr else ""),
        body=(f'<div class="qa-doc-text qa-doc-pages" id="qa-doc-text" tabindex="0" aria-label="{esc(alt)}">'
              f'<p class="qa-page-note">{esc(" ".join(x for x in (note, said) if x))}</p>'
              f'<div class="qa-page-steps">{step}{ZOOM_BUTTON}</div>'
              f'<div class="qa-page-zoom" id="{ZOOM_ID}" role="group" aria-label="The page as printed">'
              f'<div class="qa-page"><img src="data:image/png;base64,{image}" alt="{esc(alt)}" width="100%">'
              f'{boxes}</div></div>{sr}</div>'),
    )


ZOOM_ID = "qa-page-zoom"
"""The box the page image sits in: zoomed, the page is twice its width and the box scrolls sideways."""
ZOOM_BUTTON = (f'<button type="button" class="qa-btn qa-step qa-zoom" data-action="zoom" aria-pressed="false" '
               f'aria-controls="{ZOOM_ID}" title="Show the page at twice the width (or tap the page); scroll to move '
               'across it">Zoom</button>')
"""Toggles the zoomed page (qa/page/static/page.js; a tap on the page does the same): on a phone the page is
scaled to the screen's width, and its small print needs it. The boxes are placed in fractions of the page, so
they stay on their text at either size."""


PANEL_CONTEXT_CHARS = 20_000
"""Characters of the document the source panel shows on each side of the passage (cut back to a paragraph
break): pages of context to read on, while a 50 MB document no longer takes 13.9 s to render whole."""


def panel_window(text: str, start: int, end: int, context: int = PANEL_CONTEXT_CHARS) -> Span:
    """The part of ``text`` the panel shows around ``[start, end)``: up to ``context`` characters each side,
    beginning and ending at a paragraph break (else a line break, else a space) inside that reach."""
    lo, hi = max(0, start - context), min(len(text), end + context)
    if lo > 0:
        for sep in ("\n\n", "\n", " "):
            cut = text.find(sep, lo, start)
            if cut != -1:
                lo = cut + len(sep)
                break
    if hi < len(text):
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, end, hi)
            if cut != -1:
                hi = cut
                break
    return lo, hi


def _elided(n: int, where: str) -> str:
    return f'<span class="qa-doc-elided">… {n:,} characters {where} not shown</span>' if n else ""


def panel_html(doc: Document, start: int, end: int, highlights: Sequence[Span] = (), turn: int | None = None,
               n: int | None = None, total: int | None = None, note: str = "") -> str:
    """The document around the passage (panel_window), escaped, with the passage marked and its answering
    sentence(s) marked strongly; a line says how many characters before and after are not shown.

    The passage carries ``id="qa-focus"`` so the page can scroll it into view. With ``turn`` and ``n`` the
    panel says which answer and marker it shows and offers the previous / next source of that answer.
    The span is the caller's to check (``check_span``: qa/page/app.py cite_panel, before either view).
    """
    text = doc.text
    lo, hi = panel_window(text, start, end)
    hidden = [(a + lo, b + lo) for a, b in debris(text[lo:hi])]
    before, after = _elided(lo, "before"), _elided(len(text) - hi, "after")
    body = (
        (before + "\n\n" if before else "")
        + esc(_drop(text[lo:start], lo, hidden))
        + f'<mark class="qa-passage" id="{FOCUS_ID}" data-start="{start}" data-end="{end}">'
        + _marked(text[start:end], start, highlights, flow=False, hidden=hidden)
        + "</mark>"
        + esc(_drop(text[end:hi], end, hidden))
        + ("\n\n" + after if after else "")
    )
    note = f'<p class="qa-page-note">{esc(note)}</p>' if note else ""
    return _panel_frame(
        doc, start, turn, n, total, extra=_view_button(turn, n, "page") if doc.pages else "",
        where=doc.page_range(start, end),
        body=f'{note}<div class="qa-doc-text" id="qa-doc-text" tabindex="0" aria-label="Document text">{body}</div>',
    )


def _panel_frame(doc: Document, start: int, turn: int | None, n: int | None, total: int | None, extra: str,
                 where: str, body: str) -> str:
    """The source panel around ``body``: which answer and marker, previous / next source, the document's head."""
    meta = doc_meta(doc)
    section = section_words(section_at(doc, start))
    where = " · ".join(x for x in (section, where) if x)
    label = f"Answer {turn}, source [{n}]" if turn and n else "Source"
    nav = ""
    if turn and n:
        prev_ = (f'<button type="button" class="qa-btn qa-step" data-action="open" data-turn="{turn}" data-n="{n - 1}" '
                 f'aria-label="Previous source, [{n - 1}]">‹ [{n - 1}]</button>') if n > 1 else ""
        next_ = (f'<button type="button" class="qa-btn qa-step" data-action="open" data-turn="{turn}" data-n="{n + 1}" '
                 f'aria-label="Next source, [{n + 1}]">[{n + 1}] ›</button>') if total and n < total else ""
        nav = prev_ + next_
    return (
        f'<div class="qa-panel" data-source="{esc(doc.source)}" data-turn="{turn or ""}" data-n="{n or ""}">'
        f'<div class="qa-panel-bar"><h2 class="qa-panel-label" id="qa-panel-label" tabindex="-1">{esc(label)}</h2>'
        f'<span class="qa-panel-nav">{nav}{extra}'
        f'<button type="button" class="qa-btn qa-step" data-action="highlight" title="Go back to the highlighted passage">Highlight</button>'
        f'<button type="button" class="qa-btn qa-close" data-action="close" aria-label="Close the source">Close ✕</button></span></div>'
        f'<div class="qa-doc-head"><div class="qa-doc-title">{esc(display_text(doc.title))}</div>'
        f'<div class="qa-doc-meta">{" · ".join(esc(m) for m in meta) or "Author and date not catalogued"}</div>'
        f'{f"<div class=qa-doc-where>{esc(where)}</div>" if where else ""}</div>'
        f'{body}</div>'
    )
