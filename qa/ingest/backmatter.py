"""Back matter: the parts of a document about the document, not about its subject.

Reference lists and bibliography entries, "About the author", acknowledgements,
copyright, ISBN and licence lines, publisher's imprints, "By <name> | <date>"
bylines, "Share this article" and similar footers. Found by offsets into the
text, like headings and debris: back matter stays in the text (a reader sees
it in the source panel) and in chunks, and its spans let the answer stage keep
it from being quoted as an answer.

A heading named like back matter (References, Bibliography, Notes, Endnotes,
About the author(s), Acknowledgements, Further reading, See also, Copyright ...)
starts back matter that runs to the next heading of the same or a higher
level. A short page (between form feeds) with an ISBN or copyright line among
other back matter is back matter as a whole (an imprint page). Single lines
are back matter when they look like a reference entry
("Timmins N (2015). Title. Publisher."), carry an ISBN, a © or "All rights
reserved", a DOI, a licence, stand alone as a URL or e-mail address, or are a
byline or a sharing/related-articles footer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..records import Heading, Span
from .structure import HONORIFIC, is_back_matter_title, lines_with_offsets

YEAR_IN_BRACKETS = r"\((?:19|20)\d{2}[a-z]?(?:,\s*[^()\n]{1,40})?\)"
ENTRY_START = re.compile(r"^\s*(?:[-•*·]\s+|\[\d{1,3}\]\s*|\d{1,3}[.)]\s+)?")
AUTHOR_YEAR = re.compile(rf"^(?P<who>[^\n()]{{2,250}}?)\s*{YEAR_IN_BRACKETS}\s*[.,:]\s*\S")
VANCOUVER = re.compile(r"^[A-Z][\w’'-]+ [A-Z]{1,3}(?:, [A-Z][\w’'-]+ [A-Z]{1,3})*(?:,? et al)?\. \S.*\b(?:19|20)\d{2}\b")
NUMBERED_CITATION = re.compile(r"^\s*\[\d{1,3}\]\s+\S.*(?:\b(?:19|20)\d{2}\b|doi|https?://)", re.I)
IMPRINT = re.compile(r"\bIS[BS]N\b|©|\ball rights reserved\b|^\s*copyright\b", re.I)
AUTHOR_WORDS = {"and", "of", "the", "for", "et", "al", "al.", "de", "van", "von", "da", "&", "in", "on", "eds", "ed"}
LINE_PATTERNS = [
    re.compile(r"\bIS[BS]N\b"),
    re.compile(r"©|\(c\)\s*(?:19|20)\d{2}|^\s*copyright\b|\ball rights reserved\b", re.I),
    re.compile(r"\bdoi:\s*10\.|\bdoi\.org/10\.", re.I),
    re.compile(r"\blicen[cs]ed under\b|\bcreative commons\b|\bCC BY(?:-[A-Z]{2})*\b|\bpublic domain dedication\b", re.I),
    re.compile(r"^\s*[<\[(]*(?:https?://|www\.)\S+\s*$"),  # a URL alone
    re.compile(r"^\s*\[[^\]]{1,80}\]\((?:https?://|mailto:)[^)\s]+\)\s*$"),  # a Markdown link alone
    re.compile(r"^\s*(?:e-?mail:?\s*)?[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*$", re.I),  # an e-mail address alone
]
SHORT_LINE_PATTERNS = re.compile(  # only on lines of a few words
    r"^\s*(?:share (?:this|on)\b|follow us\b|print this (?:page|article)\b|"
    r"related (?:articles|posts|content|stories|reading)\b|(?:popular|recent|latest|more) (?:articles|posts|stories|news)\b|"
    r"tags?:|posted in\b|filed under\b|last updated\b|page last (?:reviewed|updated)\b|created using\b|"
    r"published by\b|first published\b|printed (?:in|by)\b|typeset by\b|charity registration number\b|registered charity\b)",
    re.I,
)
BYLINE = re.compile(
    rf"^\s*By\s+(?:{HONORIFIC}\s+)*[A-Z][\w’'.\-]+(?:\s+[A-Z][\w’'.\-]+){{1,4}}\s*(?:\||,|@|–|—|\s-\s|$)"
)
ROLES = (
    r"director|chief|executive|professor|lecturer|fellow|editor|writer|journalist|correspondent|researcher|"
    r"manager|head|lead|consultant|chair|officer|partner|founder|author|commentator|analyst|adviser|advisor"
)
AUTHOR_BIO = re.compile(
    rf"^(?:{HONORIFIC} )?[A-Z][\w’'\-]+(?: [A-Z][\w’'\-]+){{1,2}} is (?:a |an |the )?(?:[\w-]+ ){{0,4}}(?:{ROLES})\b[^.!?]*[.!?]?\s*$"
)


def is_reference_entry(line: str) -> bool:
    """A bibliography entry: authors then a year in brackets ("Ham C (2018). 'Title'. Blog."),
    Vancouver style ("Ham C, Smith J. Title. Journal 2018;3:1-9."), or "[3] ... 2016"."""
    body = line[ENTRY_START.match(line).end() :]
    if NUMBERED_CITATION.match(line) or VANCOUVER.match(body):
        return True
    m = AUTHOR_YEAR.match(body)
    if not m:
        return False
    words = [w.strip(",;*_'’") for w in m.group("who").split()]
    words = [w for w in words if w]
    if not words or len(words) > 24 or not words[0][:1].isupper():
        return False
    return all(w[:1].isupper() or w.lower() in AUTHOR_WORDS or w == "&" for w in words)


def _line_is_back_matter(line: str, near_end: bool) -> bool:
    s = line.strip()
    if not s:
        return False
    if any(p.search(s) for p in LINE_PATTERNS) or is_reference_entry(s):
        return True
    if len(s) <= 160 and not s.endswith(".") and BYLINE.match(s):
        return True
    if len(s.split()) <= 8 and SHORT_LINE_PATTERNS.match(s):
        return True
    return near_end and len(s) <= 300 and bool(AUTHOR_BIO.match(s))


def find_back_matter(text: str, headings: Iterable[Heading], extra: Iterable[Span] = ()) -> list[Span]:
    """Back-matter spans of ``text`` (sorted, merged), from its headings, its lines and ``extra``
    spans the loader already knows (an HTML page's footer)."""
    spans: list[Span] = [(a, b) for a, b in extra if 0 <= a < b <= len(text)]
    hs = sorted(headings, key=lambda h: h.start)
    for i, h in enumerate(hs):
        if is_back_matter_title(h.title):
            nxt = next((g.start for g in hs[i + 1 :] if g.level <= h.level), None)
            # up to the line of the next heading (a Markdown heading's "##" is not part of its span)
            end = len(text) if nxt is None else (text.rfind("\n", h.end, nxt) + 1 or nxt)
            spans.append((h.start, len(text[:end].rstrip())))
    lines = lines_with_offsets(text)
    tail = int(len(text) * 0.65)  # an author's bio sentence counts only in the last third
    cards = [i for i, (_, _, line) in enumerate(lines) if "|" in line and BYLINE.match(line)]
    for i, (s, e, line) in enumerate(lines):
        if _line_is_back_matter(line, s >= tail):
            lead = len(line) - len(line.lstrip())
            spans.append((s + lead, s + len(line.rstrip())))
    if len(cards) >= 2:  # a listing of other articles, not one article's own byline
        for i in cards:
            spans.extend(_listing_card(lines, i))
    spans.extend(_imprint_pages(text, lines, spans))
    return _merge(spans)


def _imprint_pages(text: str, lines: list[tuple[int, int, str]], found: list[Span]) -> list[Span]:
    """Whole short pages (between form feeds) that carry an ISBN or a copyright line among other
    back matter: a book's or report's imprint page. Only for paged text (PDFs)."""
    if "\f" not in text:
        return []
    out, page = [], []
    for s, e, line in lines + [(len(text), len(text), "\f")]:
        if "\f" not in line:
            if line.strip():
                page.append((s, e, line))
            continue
        if page and page[-1][1] - page[0][0] <= 2500:
            hits = [ln for a, _, ln in page if any(x <= a < y for x, y in found)]
            if len(hits) >= 2 and any(IMPRINT.search(ln) for ln in hits):
                a, _, first = page[0]
                out.append((a + len(first) - len(first.lstrip()), page[-1][0] + len(page[-1][2].rstrip())))
        page = []
    return out


def _listing_card(lines: list[tuple[int, int, str]], i: int) -> list[Span]:
    """A related-article card around a "By <name> | <date>" byline: its title line just before and
    a teaser just after that ends in an ellipsis."""
    out = []
    before = [j for j in range(max(0, i - 3), i) if lines[j][2].strip()]
    if before and len(lines[before[-1]][2].strip()) <= 120:
        s, _, line = lines[before[-1]]
        out.append((s + len(line) - len(line.lstrip()), s + len(line.rstrip())))
    after = [j for j in range(i + 1, min(len(lines), i + 4)) if lines[j][2].strip()]
    if after and lines[after[0]][2].rstrip().endswith(("...", "…")):
        s, _, line = lines[after[0]]
        out.append((s + len(line) - len(line.lstrip()), s + len(line.rstrip())))
    return out


def _merge(spans: list[Span]) -> list[Span]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
