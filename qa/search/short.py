"""The short answer: what a question asks for (a number, an amount, a share, a person, a date, a place, a
quoted word) and the smallest span of the lead sentence that gives it.

No model: the kind of answer is read from the question's words ("how many", "what share", "who"...) and the
span from the sentence's own characters (digits, currency, per cent, capitalised names, quotes), choosing the
candidate nearest to the question's words in the sentence. A question that asks for a reason or an account
("why", "how does", "what does X say") has no short answer, and a sentence without the kind asked for gives
none: nothing is marked rather than something wrong.

    >>> s = "Through interviews with 16 leaders of such systems, the report sets out what they have learned."
    >>> a, b = short_answer("How many leaders did Timmins interview?", s)
    >>> s[a:b]
    '16'
    >>> short_answer("Why is collaboration hard?", s) is None
    True
"""

from __future__ import annotations

import re

from ..records import Span
from .question import STOP, kind_of

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    r"eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|a dozen|dozens|hundreds|"
    r"thousands|a handful"
)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_SCALE = r"(?:\s?(?:billion|million|thousand|bn|m|k)\b)?"

PATTERNS: dict[str, re.Pattern] = {
    "amount": re.compile(r"[£$€]\s?\d[\d,]*(?:\.\d+)?" + _SCALE + r"|\b\d[\d,]*(?:\.\d+)?\s?(?:billion|million|bn)\b(?:\s(?:pounds|dollars|euros))?",
                         re.I),
    "share": re.compile(r"\b\d{1,3}(?:\.\d+)?\s?(?:[-–]\s?\d{1,3}(?:\.\d+)?\s?)?(?:%|per ?cent\b)|\b(?:half|a third|two[- ]thirds|a quarter|"
                        r"three[- ]quarters|the majority|most|all|none)\b(?= of)", re.I),
    "number": re.compile(r"\b\d[\d,]*(?:\.\d+)?\b(?!\s?%)|\b(?:" + _NUMBER_WORDS + r")\b", re.I),
    "date": re.compile(r"\b(?:(?:\d{1,2}\s)?" + _MONTH + r"(?:\s\d{1,2},?)?(?:\s(?:and|to|or|-|–)\s(?:\d{1,2}\s)?" + _MONTH + r")?"
                       r"(?:\s(?:1[89]|20)\d\d)?|(?:1[89]|20)\d\d(?:s|[-–/]\d{2,4})?)\b"),
    "person": re.compile(r"\b(?:(?:Dr|Sir|Dame|Lord|Baroness|Professor|Prof|Mr|Mrs|Ms)\.?\s)?[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)?"
                         r"(?:\s(?:[A-Z]\.\s)?[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)?)+\b"),
    "place": re.compile(r"\b(?:[A-Z][a-z]+(?:\s(?:and|upon|on|of)\s)?){1,4}(?<!\s)\b"),
    "term": re.compile(r"[‘“'\"]([^‘’“”'\"\n]{1,80})[’”'\"]"),
}
"""The span of each kind of short answer inside a sentence (share before number: '50%' is a share)."""

def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().lower()) for m in re.finditer(r"[A-Za-z0-9]+", text)]


def candidates(kind: str, sentence: str) -> list[Span]:
    """Spans of ``sentence`` (relative offsets) that give an answer of ``kind``."""
    pattern = PATTERNS[kind]
    out = []
    for m in pattern.finditer(sentence):
        a, b = (m.start(1), m.end(1)) if kind == "term" and m.lastindex else (m.start(), m.end())
        piece = sentence[a:b].strip()
        if not piece:
            continue
        a += len(sentence[a:b]) - len(sentence[a:b].lstrip())
        b = a + len(piece)
        out.append((a, b))
    return out


def short_answer(question: str, sentence: str, kind: str | None = None) -> Span | None:
    """The smallest span of ``sentence`` (relative offsets) that answers ``question``, or None.

    Among the sentence's candidates of the kind asked for, those that repeat the question (a name or number
    the question itself says) are left out; the nearest to the question's own words in the sentence wins,
    the first one on a tie.
    """
    kind = kind or kind_of(question)
    if kind is None:
        return None
    qwords = {w for _, _, w in _words(question) if w not in STOP and len(w) > 1}
    qtext = question.lower()
    found = [(a, b) for a, b in candidates(kind, sentence) if sentence[a:b].lower() not in qtext]
    if kind == "person":
        found = [(a, b) for a, b in found if not set(w for _, _, w in _words(sentence[a:b])) <= qwords]
    if not found:
        return None
    anchors = [(a + b) / 2 for a, b, w in _words(sentence) if w in qwords or w.rstrip("s") in qwords]
    if not anchors:
        return found[0]
    return min(found, key=lambda s: (min(abs((s[0] + s[1]) / 2 - x) for x in anchors), s[0]))
