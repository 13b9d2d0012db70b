"""The conversation: each question with its reply (``qa.page.reply``), the copy button and thumbs under it,
oldest first, and the example questions on the first screen.

A reply's HTML is written when the answer comes (``Turn.html``); this module puts the turns around it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .display import esc
from .feedback import REASONS

LONG_QUESTION_CHARS = 280
"""A question longer than this is shown clamped, with a "Show more" button."""


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
