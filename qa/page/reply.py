"""The reply to a question: its answer sentences with citation markers, a confidence level and a card per
passage, as HTML for the chat and as Markdown for Copy answer (and the message when it cannot answer).

A citation marker and a card's "Show in document" button carry the answer's
turn number and the marker number, and nothing else; the page resolves them
against the answer it stored (and the index build that produced it), so a
request can only open what an answer cited (``qa.page.panel`` shows it).
Markers are numbered in the order the reply cites its passages
(:func:`citation_order`), the same in the HTML, the Markdown and the stored turn.
"""

from __future__ import annotations

import re

from ..records import Answer, Passage, Span
from ..search.answer import ranked_highlights
from .display import _marked, debris, display_text, esc, gist, section_words
from .render import MODE_LABELS

LEAD_SENTENCES = 2
"""At most this many answer sentences lead the reply."""

LEVEL_WORDS = {"high": "High confidence", "medium": "Medium confidence", "low": "Low confidence"}


def level_of(answer: Answer) -> str:
    """The answer's plain confidence level: the engine's ``level`` when it has one."""
    level = getattr(answer, "level", None)
    if level in LEVEL_WORDS:
        return level
    return "low" if answer.abstained else "high"


def cite_href(turn: int, n: int) -> str:
    """The link a citation marker carries (the page's script opens the source from its turn and number)."""
    return f"#qa-source-{turn}-{n}"


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
