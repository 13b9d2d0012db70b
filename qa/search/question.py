"""What a question asks: the kind of short answer it wants, the names it gives, and its topic without them.

Read from the question's own words, no model. The sentence scorer uses the topic: a question that names a
person ("What does Claire Fuller find hardest ...?") is scored without the name too, since the sentence that
answers often follows the one that names her and does not repeat it.

    >>> kind_of("How many leaders did Timmins interview?")
    'number'
    >>> kind_of("Why is collaboration hard?") is None
    True
    >>> names("What does Claire Fuller find hardest about leading her system?")
    ('claire', 'fuller')
    >>> topic("What does Claire Fuller find hardest about leading her system?")
    'What does find hardest about leading her system?'
"""

from __future__ import annotations

import re

KINDS = ("amount", "share", "number", "term", "date", "person", "place")
"""The kinds of short answer, in the order a question is tested for them (an amount before a number)."""

_QUESTION_KINDS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"\bhow much (?:money|funding|cash|spending|did|does|will|is|was|has)\b|\bwhat (?:level|amount|sum) of "
                r"(?:public )?(?:spending|money|funding|investment)|\bhow much\b.*\b(?:cost|spend|save|fund|worth)", re.I), "amount"),
    (re.compile(r"\bwhat (?:share|proportion|percentage|fraction|part)\b|\bhow much of (?:their|his|her|its|the) time\b|"
                r"\bper ?cent\b", re.I), "share"),
    (re.compile(r"\bhow many\b|\bwhat number\b|\bhow much\b|\bhow (?:long|old|often)\b", re.I), "number"),
    (re.compile(r"\bwhat (?:word|term|phrase|label|name|answer|reply|response|title)\b|\bwhich (?:word|term|phrase|label|title)\b|"
                r"\bcalled\b|\bin (?:one|a) word\b|\b(?:respond|reply|answer)s? (?:when|if)\b", re.I), "term"),
    (re.compile(r"\bwhen\b|\bwhat (?:year|date|month)\b|\bwhich (?:year|date|month)\b|\bin what year\b", re.I), "date"),
    (re.compile(r"\bwho\b|\bwhose\b|\bwhom\b|\bwhich (?:person|leader|official|chair|chief|minister|author|writer|doctor|gp)\b|"
                r"\bwhat is the name of\b|\bnames? (?:the|a)\b", re.I), "person"),
    (re.compile(r"\bwhere\b|\bin which (?:area|region|place|county|city|town|part|country)\b|\bwhich (?:area|region|place|county|"
                r"city|town|country)\b", re.I), "place"),
)


def kind_of(question: str) -> str | None:
    """The kind of short answer the question asks for, or None (why / how does / what does X say ...)."""
    for pattern, kind in _QUESTION_KINDS:
        if pattern.search(question):
            return kind
    return None


STOP = frozenset(
    "a an the of to in on for and or is are was were be been by with as at from that this these those it its what which "
    "who whom whose when where why how do does did has have had can could should would will not no than then there their "
    "they them he she his her we our you your i me my about into over under more most other such also many much say says "
    "said".split()
)


_WORD = re.compile(r"[A-Za-z][\w'’-]*")


def _name_tokens(question: str) -> list[re.Match]:
    """Capitalised words after the first, not acronyms (ICS, NHS name the domain, not a person or place)."""
    toks = list(_WORD.finditer(question))
    return [t for i, t in enumerate(toks) if i > 0 and t.group()[0].isupper() and not t.group().isupper()]


def _base(word: str) -> str:
    return re.sub(r"['’]s?$", "", word.lower())


def names(question: str) -> tuple[str, ...]:
    """The question's names (capitalised words after the first), lower case, without a possessive 's."""
    return tuple(_base(t.group()) for t in _name_tokens(question))


def topic(question: str) -> str:
    """The question without its names: what it asks about them."""
    out = question
    for t in reversed(_name_tokens(question)):
        out = out[: t.start()] + out[t.end() :]
    return re.sub(r"\s+", " ", re.sub(r"(?<=\s)['’]s\b", "", out)).strip()


def mentions(names_: tuple[str, ...], text: str) -> float:
    """Share of the names that ``text`` mentions (0 when there are none)."""
    if not names_:
        return 0.0
    words = {_base(w) for w in _WORD.findall(text)}
    return len(set(names_) & words) / len(set(names_))
