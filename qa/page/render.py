"""The chat page's frame: its head (the CSS and script in ``qa/page/static``), the header saying what the
documents are, and the names the markup, the page's script and the server share (retrieval modes, actions).

The rest of the page's HTML has a module each: ``display`` (source text as shown, and :func:`esc`, through
which every piece of text goes), ``reply`` (an answer), ``conversation`` (the turns) and ``panel`` (the
source panel). Nothing here needs Gradio: the page (``app.py``) only passes these strings to its components.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..records import Document
from .display import display_text, esc

STATIC = Path(__file__).resolve().parent / "static"

MODE_CHOICES = (("Hybrid", "hybrid"), ("Semantic", "dense"), ("Keyword", "bm25"))
"""Retrieval modes as the page names them, with the engine's name for each."""

MODE_ALIASES = {label.lower(): mode for label, mode in MODE_CHOICES} | {mode: mode for _, mode in MODE_CHOICES}
MODE_LABELS = {mode: label for label, mode in MODE_CHOICES}

ACTIONS = {
    # sent by the page's script to the server (qa/page/app.py on_action), with the turn and marker they concern
    "open": "server", "page": "server", "close": "server", "clear": "server", "helpful": "server",
    "not-helpful": "server", "search-all": "server",
    # done in the browser alone (qa/page/static/page.js)
    "highlight": "browser", "copy": "browser", "copy-all": "browser", "why": "browser", "more": "browser",
    "newest": "browser", "zoom": "browser",
}
"""Every ``data-action`` the page's markup writes (here and in ``reply``, ``conversation`` and ``panel``), and
where it is handled: the one list the markup, the page's script and the server's handler are checked against
(tests/page/test_actions.py)."""
SERVER_ACTIONS = frozenset(a for a, where in ACTIONS.items() if where == "server")


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
