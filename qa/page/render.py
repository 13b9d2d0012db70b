"""HTML for the chat page: the conversation, answers with citation markers, source cards and the source panel.

All escaping lives here. Every piece of document text, title, section, file
name or message goes through :func:`esc` before it is placed in markup, so a
document containing ``<script>`` shows it as text. Nothing here needs Gradio:
the page (``app.py``) only passes these strings to its components.

A citation marker and a card's "Show in document" button carry the answer's
turn number and the marker number, and nothing else; the page resolves them
against the answer it stored (and the index build that produced it), so a
request can only open what an answer cited.

Markdown debris in source files (``[Ham 2018](#)``, ``*emphasis*``, doubled
quotation marks, runs of blank lines) is hidden when shown (:func:`debris`):
display only, offsets stay exact and the highlighted text is still
``document.text[start:end]``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..search.answer import ranked_highlights
from ..search.quotable import MD_LINK
from ..records import Answer, Document, Passage, Span
from .feedback import REASONS

STATIC = Path(__file__).resolve().parent / "static"

MODE_CHOICES = (("Hybrid", "hybrid"), ("Semantic", "dense"), ("Keyword", "bm25"))
"""Retrieval modes as the page names them, with the engine's name for each."""

MODE_ALIASES = {label.lower(): mode for label, mode in MODE_CHOICES} | {mode: mode for _, mode in MODE_CHOICES}
MODE_LABELS = {mode: label for label, mode in MODE_CHOICES}

FOCUS_ID = "qa-focus"
"""Element id of the passage in the source panel; the page scrolls it into view."""

LEAD_SENTENCES = 2
"""At most this many answer sentences lead the reply."""

LONG_QUESTION_CHARS = 280
"""A question longer than this is shown clamped, with a "Show more" button."""

ACTIONS = {
    # sent by the page's script to the server (qa/page/app.py on_action), with the turn and marker they concern
    "open": "server", "page": "server", "close": "server", "clear": "server", "helpful": "server",
    "not-helpful": "server", "search-all": "server",
    # done in the browser alone (qa/page/static/page.js)
    "highlight": "browser", "copy": "browser", "copy-all": "browser", "why": "browser", "more": "browser",
    "newest": "browser", "zoom": "browser",
}
"""Every ``data-action`` this module writes, and where it is handled: the one list the markup, the page's script
and the server's handler are checked against (tests/page/test_actions.py)."""
SERVER_ACTIONS = frozenset(a for a, where in ACTIONS.items() if where == "server")

LEVEL_WORDS = {"high": "High confidence", "medium": "Medium confidence", "low": "Low confidence"}


class BadReferenceError(ValueError):
    """A citation that points outside its document, or a highlight outside its passage."""


def esc(text: object) -> str:
    """Text as inert HTML: ``<``, ``>``, ``&`` and both quotes become entities."""
    return html.escape(str(text), quote=True)


def static_text(name: str) -> str:
    """A file from ``qa/page/static`` (the page's CSS and script), read when the page is built."""
    return (STATIC / name).read_text(encoding="utf-8")


def page_head() -> str:
    """The page's CSS and script for ``<head>`` (as a plain style sheet: Gradio's ``css=`` would scope every
    selector under its container, which breaks ``body`` and ``.dark`` rules)."""
    return f"<style>{static_text('page.css')}</style><script>{static_text('page.js')}</script>"


def mode_name(mode: str) -> str:
    """The engine's mode for a page label or engine name ("Semantic" -> "dense")."""
    key = str(mode).strip().lower()
    if key not in MODE_ALIASES:
        choices = ", ".join(f"{label.lower()} ({m})" for label, m in MODE_CHOICES)
        raise ValueError(f"Unknown retrieval mode {mode!r}. Choose one of: {choices}.")
    return MODE_ALIASES[key]


def level_of(answer: Answer) -> str:
    """The answer's plain confidence level: the engine's ``level`` when it has one."""
    level = getattr(answer, "level", None)
    if level in LEVEL_WORDS:
        return level
    return "low" if answer.abstained else "high"


def nice_date(value: str | None) -> str:
    """An ISO time as words ("23 Nov 2026, 05:40 UTC"); anything else unchanged."""
    if not value:
        return ""
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    zone = " UTC" if t.utcoffset() is not None and not t.utcoffset() else ""
    return f"{t.day} {t:%b %Y, %H:%M}{zone}"


# -- references ------------------------------------------------------------------------------------


def check_span(doc: Document, start: int, end: int, highlights: Sequence[Span]) -> None:
    """BadReferenceError unless the passage and its highlights lie inside the document's text."""
    if not 0 <= start < end <= len(doc.text):
        raise BadReferenceError(f"The passage [{start}:{end}] is outside {doc.source} ({len(doc.text)} characters).")
    for a, b in highlights:
        if not start <= a < b <= end:
            raise BadReferenceError(f"The highlighted sentence [{a}:{b}] is outside its passage [{start}:{end}].")


def cite_href(turn: int, n: int) -> str:
    """The link a citation marker carries (the page's script opens the source from its turn and number)."""
    return f"#qa-source-{turn}-{n}"


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


# -- what an answer cites, in the order it cites it ------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+|\n\s*\n")


def lead_sentences(answer: Answer, n: int = LEAD_SENTENCES) -> list[tuple[int, Span]]:
    """The sentences the reply leads with, as (passage index, span): the engine's order (``ranked_highlights``),
    which holds only sentences that may be quoted (``answer.quotable``: no reference line, fragment or repeat)."""
    return [(i, span) for i, span, _ in ranked_highlights(answer)[:n]]


def citation_order(answer: Answer) -> list[int]:
    """Passage indices in marker order: the passages the lead sentences cite first, then the rest by rank.

    Marker ``[n]`` is ``answer.passages[order[n - 1]]``: numbers run 1..n with no gaps. A refusal lists only
    passages with a sentence that could be quoted: references, "about the author" and imprint pages are not
    offered as the nearest thing to an answer (unless nothing else came back).
    """
    order: list[int] = []
    if not answer.abstained:
        for i, _ in lead_sentences(answer):
            if i not in order:
                order.append(i)
    rest = [i for i in range(len(answer.passages)) if i not in order]
    if answer.abstained:
        prose = [i for i in rest if _has_prose(answer.passages[i])]
        rest = prose or rest
    return order + rest


def _has_prose(p: Passage) -> bool:
    """Does the passage have a highlighted sentence that may be quoted (not back matter, a citation, a fragment)?"""
    return not p.quotable or any(p.quotable)


def sentence_around(p: Passage, a: int, b: int) -> Span:
    """The whole sentence(s) of ``p`` around the span ``[a, b)`` (absolute offsets)."""
    text, s, e = p.text, a - p.start, b - p.start
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, s):
        if m.end() <= s:
            start = m.end()
    m = _SENTENCE_END.search(text, max(e - 1, s))
    end = m.start() + len(m.group(0).rstrip()) if m and m.start() >= e - 1 else len(text)
    end = max(end, e)
    return p.start + start, p.start + end


def _starts_mid_sentence(text: str) -> bool:
    """Does the quote begin inside a sentence (a lower-case word where its passage starts)? It is then shown after
    an ellipsis, not as if the writer began there."""
    m = re.match(r"\s*([A-Za-z])", text)
    return bool(m and m.group(1).islower())


def section_words(section: Sequence[str]) -> str:
    return " › ".join(display_text(s) for s in section)


# -- the chat reply --------------------------------------------------------------------------------


def _tip_id(turn: int, n: int) -> str:
    return f"qa-tip-{turn}-{n}"


def marker_html(turn: int, n: int, p: Passage, sentence: str = "") -> str:
    """A citation marker ``[n]``: a button that opens the source; hovering or focusing it previews the sentence."""
    where = "".join(f", {x}" for x in (section_words(p.section), p.pages) if x)
    preview = " ".join(display_text(sentence).split()) if sentence else ""
    tip = (f'<span class="qa-tip" role="tooltip" id="{_tip_id(turn, n)}">'
           f'<span class="qa-tip-title">[{n}] {esc(display_text(p.title))}</span>'
           f'{f"<span class=qa-tip-text>“{esc(preview)}”</span>" if preview else ""}</span>')
    return (
        f'<span class="qa-cite-wrap"><a class="qa-cite" role="button" href="{cite_href(turn, n)}" '
        f'data-turn="{turn}" data-n="{n}" aria-describedby="{_tip_id(turn, n)}" '
        f'aria-label="Source {n}: {esc(display_text(p.title) + where)}">[{n}]</a>{tip}</span>'
    )


def _best_sentence(p: Passage) -> str:
    if not p.highlights:
        return ""
    i = max(range(len(p.highlights)), key=lambda j: (p.highlight_scores or (0.0,) * len(p.highlights))[j])
    a, b = p.highlights[i]
    return p.text[a - p.start : b - p.start]


CARD_GIST_CHARS = 160
"""A card's summary quotes at most this much of its best sentence (the rest is one click away)."""


def gist(text: str, limit: int) -> str:
    """``text`` as shown on the page, on one line, cut at a word to at most ``limit`` characters with " …"."""
    out = " ".join(display_text(text).split())
    return out if len(out) <= limit else out[:limit].rsplit(" ", 1)[0] + " …"


def card_html(turn: int, n: int, p: Passage, date: str = "", open_: bool = False) -> str:
    """A source card: title; section, pages and date; the start of its best sentence, so that cards from one
    document differ; the passage with its sentence marked, collapsible."""
    section = section_words(p.section)
    meta = " · ".join(esc(x) for x in (section, p.pages, date) if x)
    summary = gist(_best_sentence(p), CARD_GIST_CHARS)
    return (
        f'<details class="qa-card" data-source="{esc(p.source)}"{" open" if open_ else ""}>'
        f'<summary><span class="qa-num" aria-hidden="true">[{n}]</span> '
        f'<span class="qa-card-title">{esc(display_text(p.title))}</span>'
        f'{f"<span class=qa-card-meta>{meta}</span>" if meta else ""}'
        f'{f"<span class=qa-card-gist>“{esc(summary)}”</span>" if summary else ""}'
        f'<span class="qa-sr"> (source {n})</span></summary>'
        f'<div class="qa-card-text">{_marked(p.text, p.start, p.highlights)}</div>'
        f'<a class="qa-show" role="button" href="{cite_href(turn, n)}" data-turn="{turn}" data-n="{n}">'
        f'Show in document<span class="qa-sr"> (source {n})</span> →</a>'
        "</details>"
    )


def settings_words(settings: dict | None, total_docs: int | None = None, titles: dict | None = None) -> str:
    """What produced an answer, in words: "All 5 documents · Hybrid · 5 passages"."""
    if not settings:
        return ""
    sources = list(settings.get("sources") or [])
    if sources:
        names = [display_text((titles or {}).get(s, s)) for s in sources]
        where = f"Only {len(sources)} of {total_docs} documents" if total_docs else f"Only {len(sources)} documents"
        where += f" ({'; '.join(names)})"
    else:
        where = f"All {total_docs} documents" if total_docs else "All documents"
    mode = MODE_LABELS.get(settings.get("mode"), str(settings.get("mode", "")))
    k = settings.get("k")
    return " · ".join(x for x in (where, mode, f"{k} passage{'s' if k != 1 else ''}" if k else "") if x)


def answer_html(answer: Answer, turn: int = 1, settings: dict | None = None, dates: dict | None = None,
                total_docs: int | None = None, titles: dict | None = None, indexed: str = "") -> str:
    """The reply: the answer sentence first with its markers, a plain confidence level, then a card per passage.

    When the engine abstains the reply says so first, plainly (with the document filter when one was on,
    and a button to search everything), and lists the nearest passages under a heading that does not call
    them an answer.
    """
    dates = dates or {}
    order = citation_order(answer)
    number = {i: n for n, i in enumerate(order, 1)}
    level = level_of(answer)
    parts = [f'<div class="qa-answer{" qa-weak" if answer.abstained else ""}" data-turn="{turn}">']
    if answer.abstained:
        filt = list((settings or {}).get("sources") or [])
        extra = ""
        if filt:
            names = "; ".join(display_text((titles or {}).get(s, s)) for s in filt)
            extra = (f'<p class="qa-filter-note">The search was limited to {len(filt)} document'
                     f'{"s" if len(filt) != 1 else ""}: {esc(names)}.</p>'
                     f'<button type="button" class="qa-btn qa-search-all" data-action="search-all" data-turn="{turn}">'
                     "Search all documents</button>")
        parts.append(f'<div class="qa-abstain"><p><strong class="qa-abstain-label">No answer found.</strong> '
                     f'{esc(answer.message)}</p>{extra}</div>')
        label = "Nearest passages (not an answer)" if answer.passages else ""
    else:
        leads = lead_sentences(answer)
        short = answer.short_text() if getattr(answer, "short", None) else ""
        if short and leads:
            i = leads[0][0]
            parts.append(f'<p class="qa-short"><span class="qa-short-label">Answer: </span><strong class="qa-short-text">'
                         f'{esc(" ".join(display_text(short).split()))}</strong> '
                         f'{marker_html(turn, number[i], answer.passages[i], short)}</p>')
        for j, (i, (a, b)) in enumerate(leads):
            p = answer.passages[i]
            s, e = sentence_around(p, a, b)
            n = number[i]
            hidden = [(x + p.start, y + p.start) for x, y in debris(p.text)]
            if j == 0 and short and _is_lead(answer, i, (a, b)):
                body = _with_short(p, s, e, (a, b), answer.short, hidden)
            else:
                body = _marked(p.text[s - p.start : e - p.start], s, [(a, b)], tag="strong", cls="qa-hl", hidden=hidden)
            cls = "qa-lead" if j == 0 else "qa-also"
            cut = "…" if _starts_mid_sentence(display_text(p.text[s - p.start : e - p.start])) else ""
            parts.append(f'<p class="{cls}">{"" if j == 0 else "<span class=qa-also-label>Also: </span>"}'
                         f'<span class="qa-quote-text">“{cut}{body.strip()}”</span> '
                         f'{marker_html(turn, n, p, p.text[a - p.start : b - p.start])}</p>')
        label = f"Sources ({len(answer.passages)})"
        filt = list((settings or {}).get("sources") or [])
        if filt and total_docs and len(filt) < total_docs:
            parts.append(f'<p class="qa-filter-note">Only {len(filt)} of {total_docs} documents were searched; the '
                         f'others may answer better. <button type="button" class="qa-btn qa-search-all qa-inline" '
                         f'data-action="search-all" data-turn="{turn}">Search all documents</button></p>')
    meaning = level_meaning(answer)
    searched = getattr(answer, "searched", "")
    parts.append(
        f'<p class="qa-level-line"><span class="qa-level qa-level-{level}" tabindex="0" '
        f'title="{esc(meaning)}">{LEVEL_WORDS[level]}</span>'
        f'<span class="qa-sr"> ({esc(meaning)})</span>'
        + (f'<span class="qa-searched"> · searched as “{esc(searched)}”</span>' if searched else "") + '</p>'
    )
    if label:
        parts.append(f'<div class="qa-sources"><p class="qa-cards-label">{label}</p>')
        parts.extend(card_html(turn, number[i], answer.passages[i], dates.get(answer.passages[i].source, ""),
                               open_=False) for i in order)
        parts.append("</div>")
    made = settings_words(settings, total_docs, titles)
    if made or indexed:
        parts.append(f'<p class="qa-made">{esc(made)}{" · " if made and indexed else ""}'
                     f'{f"index of {esc(indexed)}" if indexed else ""}</p>')
    parts.append("</div>")
    return "".join(parts)


def _is_lead(answer: Answer, i: int, span: Span) -> bool:
    """Is sentence ``span`` of passage ``i`` the answer's lead (the sentence its short answer sits in)?"""
    return answer.lead is not None and (i, tuple(span)) == (answer.lead[0], tuple(answer.lead[1]))


def _with_short(p: Passage, s: int, e: int, lead: Span, short: Span, hidden: list[Span]) -> str:
    """The lead sentence ``[s, e)`` of ``p`` with the lead in <strong> and the short answer marked inside it."""
    a, b = lead
    x, y = max(short[0], a), min(short[1], b)
    cut = lambda u, v: p.text[u - p.start : v - p.start]  # noqa: E731
    inner = _marked(cut(a, b), a, [(x, y)], tag="mark", cls="qa-short-mark", hidden=hidden)
    return (_marked(cut(s, a), s, [], hidden=hidden) + f'<strong class="qa-hl" data-start="{a}" data-end="{b}">{inner}</strong>'
            + _marked(cut(b, e), b, [], hidden=hidden))


def level_meaning(answer: Answer) -> str:
    """What the level means, in words: how often such answers were right on the evaluation set (the calibrated
    chance), never a raw model score."""
    if answer.abstained:
        return "The documents do not seem to answer this question; the nearest passages are shown to check."
    chance = getattr(answer, "chance", None)
    if chance is not None:
        n = max(1, min(9, round(chance * 10)))
        return f"Answers like this one were right about {n} times in 10 on the evaluation set."
    return "How closely the passages match the question; not calibrated as a chance under these search settings."


def answer_markdown(answer: Answer, settings: dict | None = None, dates: dict | None = None) -> str:
    """The answer as Markdown: question, quoted sentence(s) with markers, confidence, then the references."""
    dates = dates or {}
    order = citation_order(answer)
    number = {i: n for n, i in enumerate(order, 1)}
    lines = [f"**Q:** {' '.join(answer.question.split())}", ""]
    if answer.abstained:
        lines += [f"**No answer found.** {answer.message}", ""]
    else:
        leads = lead_sentences(answer)
        short = answer.short_text() if getattr(answer, "short", None) else ""
        quotes = []
        for j, (i, (a, b)) in enumerate(leads):
            p = answer.passages[i]
            shown = display_text(p.text[a - p.start : b - p.start])
            if j == 0 and short and _is_lead(answer, i, (a, b)):
                x, y = answer.short
                shown = (display_text(p.text[a - p.start : x - p.start]) + "**" + display_text(short) + "**"
                         + display_text(p.text[y - p.start : b - p.start]))
            cut = "…" if _starts_mid_sentence(shown) else ""
            quotes.append(f"> “{cut}{' '.join(shown.split())}” [{number[i]}]")
        if short and leads:
            lines += [f"**A:** {' '.join(display_text(short).split())} [{number[leads[0][0]]}]", ""]
        lines += ["\n>\n".join(quotes), ""]
    made = settings_words(settings)
    lines += [f"*{LEVEL_WORDS[level_of(answer)]}*" + (f" · {made}" if made else ""), ""]
    if order:
        lines.append("Nearest passages:" if answer.abstained else "References:")
        for n, i in enumerate(order, 1):
            p = answer.passages[i]
            where = ", ".join(x for x in (section_words(p.section), p.pages, dates.get(p.source, "")) if x)
            quote_ = " ".join(display_text(_best_sentence(p)).split())
            lines.append(f"{n}. {display_text(p.title)}{f' ({where})' if where else ''}"
                         + (f": “{quote_}”" if quote_ else ""))
    return "\n".join(lines).strip() + "\n"


def error_html(message: str) -> str:
    return f'<div class="qa-answer qa-error-reply"><p class="qa-error" role="alert"><strong>Cannot answer.</strong> {esc(message)}</p></div>'


def question_html(question: str, note: str = "") -> str:
    """The reader's question: clamped with "Show more" when long, with a note when it was cut."""
    q = question.strip()
    long_ = len(q) > LONG_QUESTION_CHARS
    more = ('<button type="button" class="qa-more" data-action="more" aria-expanded="false">Show more</button>'
            if long_ else "")
    cut = f'<p class="qa-cut-note">{esc(note)}</p>' if note else ""
    return f'<div class="qa-q-wrap"><p class="qa-q{" qa-clamped" if long_ else ""}">{esc(q)}</p>{more}{cut}</div>'


_THUMB = ('<svg aria-hidden="true" focusable="false" width="18" height="18" viewBox="0 0 24 24" fill="none" '
          'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"{flip}>'
          '<path d="M7 10v12"/><path d="M15 5.88 14 10h5.83a2 2 0 0 1 1.92 2.56l-2.33 8A2 2 0 0 1 17.5 22H4a2 2 0 0 '
          '1-2-2v-8a2 2 0 0 1 2-2h2.76a2 2 0 0 0 1.79-1.11L12 2a3.13 3.13 0 0 1 3 3.88Z"/></svg>')
THUMB_UP = _THUMB.format(flip="")
THUMB_DOWN = _THUMB.format(flip=' style="transform: rotate(180deg)"')



def feedback_html(turn: int, verdict: str | None = None) -> str:
    """Thumbs up / down; thumbs down opens a short form asking why."""
    if verdict:
        return f'<div class="qa-feedback"><p class="qa-saved" role="status">Thank you: saved as {esc(verdict)}.</p></div>'
    radios = "".join(
        f'<label><input type="radio" name="qa-why-{turn}" value="{esc(v)}"> {esc(label)}</label>'
        for v, label in REASONS.items()
    )
    return (
        f'<div class="qa-feedback" data-turn="{turn}">'
        f'<button type="button" class="qa-thumb" data-action="helpful" data-turn="{turn}" aria-label="Helpful" '
        f'title="Helpful">{THUMB_UP}</button>'
        f'<button type="button" class="qa-thumb" data-action="why" data-turn="{turn}" aria-label="Not helpful" '
        f'title="Not helpful" aria-expanded="false" aria-controls="qa-why-{turn}">{THUMB_DOWN}</button>'
        f'<form class="qa-why" id="qa-why-{turn}" hidden><fieldset><legend>What was wrong?</legend>{radios}</fieldset>'
        f'<label class="qa-why-text">Anything else (optional)<textarea rows="2" maxlength="1000"></textarea></label>'
        f'<button type="button" class="qa-btn" data-action="not-helpful" data-turn="{turn}">Send</button></form></div>'
    )


def turn_html(turn) -> str:
    """One exchange (qa/page/turns.py Turn): the question, then the reply (or a pending note), the closed "How
    this answer was chosen" view (qa/page/details.py), its copy button and thumbs."""
    t = turn.number
    reply = turn.html or '<div class="qa-answer qa-pending"><p>Searching the documents…</p></div>'
    tools = ""
    if turn.answered:
        tools = (
            f'<div class="qa-tools"><button type="button" class="qa-btn qa-copy" data-action="copy" '
            f'data-md="{esc(turn.text)}">Copy answer</button>{feedback_html(t, turn.verdict)}</div>'
        )
    label = f"Answer {t}" if turn.answered else ("Error" if turn.kind == "error" else "Waiting")
    details = turn.details if turn.answered else ""
    return (
        f'<div class="qa-turn" id="qa-turn-{t}" data-turn="{t}" data-text="{esc(turn.text)}">'
        f'<section class="qa-user" aria-label="Question {t}">{question_html(turn.question, turn.note)}</section>'
        f'<section class="qa-bot" aria-label="{label}">{reply}{details}{tools}</section></div>'
    )


def conversation_html(turns: Sequence, empty: str = "") -> str:
    """The whole conversation, oldest first, with Copy conversation / Clear above it."""
    if not turns:
        return f'<div class="qa-log qa-log-empty">{empty}</div>'
    bar = ('<div class="qa-log-bar"><button type="button" class="qa-btn" data-action="copy-all">Copy conversation</button>'
           '<button type="button" class="qa-btn" data-action="clear">Clear</button></div>')
    return f'<div class="qa-log" role="log" aria-label="Conversation">{bar}{"".join(turn_html(t) for t in turns)}</div>'


def empty_html(examples: Sequence[str]) -> str:
    """The first screen's conversation area: example questions."""
    if not examples:
        return '<p class="qa-hint">Type a question above.</p>'
    buttons = "".join(f'<li><button type="button" class="qa-example" data-ask="{esc(q)}">{esc(q)}</button></li>'
                      for q in examples)
    return f'<p class="qa-hint">Try one of these:</p><ul class="qa-examples">{buttons}</ul>'


def header_html(docs: Sequence[Document], topic: str = "", indexed: str = "") -> str:
    """What the documents are, compactly: count, topic and years, then a collapsible list."""
    years = sorted({m.group(0) for d in docs for m in [re.search(r"\d{4}", d.date or "")] if m})
    span = f" ({years[0]}–{years[-1]})" if len(years) > 1 else (f" ({years[0]})" if years else "")
    about = f" on {esc(topic)}" if topic else ""
    items = []
    for d in docs:
        who = d.author or d.publisher
        meta = ", ".join(esc(x) for x in (who, d.date) if x)
        items.append(f"<li><span class=qa-doc-name>{esc(display_text(d.title) or d.source)}</span>"
                     f"{f' — {meta}' if meta else ''}</li>")
    when = f'<span class="qa-indexed">Indexed {esc(indexed)}.</span>' if indexed else ""
    return (
        '<header class="qa-header"><a class="qa-skip" href="#qa-chat" data-action="newest">Skip to the newest answer</a>'
        '<h1>Ask the documents</h1>'
        f'<p class="qa-about">Answers quoted word for word from {len(docs)} document{"s" if len(docs) != 1 else ""}'
        f'{about}{esc(span)}, each with a source you can check. {when}</p>'
        f'<details class="qa-doclist"><summary>The {len(docs)} documents</summary><ul>{"".join(items)}</ul></details>'
        "</header>"
    )


# -- the source panel ------------------------------------------------------------------------------


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
