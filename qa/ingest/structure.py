"""Find a document's headings and its layout debris, by offsets into its text.

Pure functions of the text. Headings come from, in order of trust: the
loader (HTML ``h1``-``h6``, PDF outlines), Markdown ``#`` lines, man-page
sections (upper-case lines at column 0 followed by indented text, with
indented sub-sections), a table of contents ("Contents" followed by lines
ending in page numbers), and otherwise short stand-alone lines that look like
titles. A person's name alone on a line and an image or video caption
("Figure 3: ...", "Source: ...", "David Pearson on leadership" after a quote
by David Pearson) are not headings. Back-matter headings (References, About
the author, Acknowledgements ...) found through a table of contents are
top-level sections of their own.

Debris is text that is layout, not content: "Skip to content", page numbers
standing alone, running headers and footers repeated at page edges, man-page
header and footer lines, and the table of contents itself. Debris is never
deleted from the text (offsets must hold); it is kept out of chunks.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from functools import lru_cache

from ..records import Heading, Span

NAV_LINES = {"skip to content", "skip to main content", "back to top", "jump to navigation", "menu", "search"}
PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
TOC_TITLE = re.compile(r"^\s*(?:table of )?contents\s*$", re.I)
TOC_ENTRY = re.compile(r"^\s*(?P<title>\S.*?)(?:\s*\.{3,}\s*|\t+|\s{2,}|\s)(?P<page>\d{1,4})\s*$")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
NUMBERED = re.compile(rf"^(?P<num>\d{{1,2}}(?:\.\d{{1,2}})*)\.?[\t ]+(?!(?:{MONTHS})\b)(?P<title>[A-Z‘'\"“].*)$")
DATE_LINE = re.compile(rf"^(?:\d{{1,2}}\s+)?(?:{MONTHS})\s+\d{{4}}$")
MD_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$")
BULLET = re.compile(r"^\s*(?:[•\-*–·▪●◦]|\d{1,2}[.)]|[a-z][.)])\s")
MAN_EDGE = re.compile(r"^\S.*\S {3,}.*\b[\w.+-]+\(\d\w*\)\s*$")  # "BASH(1)   General Commands Manual   BASH(1)"
CAPS_SECTION = re.compile(r"^[A-Z][A-Z0-9]*(?:[ /&,-]{1,2}[A-Z0-9]+)*$")
MAN_SUBSECTION = re.compile(r"^( {2,4})([A-Z][^ ].*?)\s*$")
BACK_MATTER_TITLE = re.compile(
    r"^(?:\d{1,2}(?:\.\d{1,2})*\.?\s+)?(?:references?|bibliography|works cited|sources|citations|notes|end ?notes|"
    r"footnotes|about the authors?|about this (?:report|publication|paper)|authors?|acknowledge?ments?|"
    r"further reading|see also|copyright|licen[cs]e|colophon|"
    r"related (?:articles|posts|content|reading|stories))$",
    re.I,
)
GENERIC_TITLE = re.compile(
    r"^(?:\d{1,2}\.?\s+)?(?:introduction|contents|table of contents|foreword|preface|summary|executive summary|"
    r"abstract|overview|background|key (?:messages|points|findings)|name|synopsis|description)$",
    re.I,
)
CAPTION = re.compile(
    r"^(?:(?:video|watch|listen|audio|podcast|figure|fig\.?|image|photo(?:graph)?|picture|illustration|chart|graph|"
    r"diagram|map|table|exhibit|box|infographic|source|sources|credit|credits|caption)\b\s*(?:\d+[\w.\-]*)?\s*[:|–—-]"
    r"|(?:figure|fig\.|table|chart|exhibit|box|image|video)\s+\d+[\w.]*\b)",
    re.I,
)
HONORIFIC = r"(?:Dr|Prof|Professor|Sir|Dame|Lord|Lady|Baroness|Cllr|Councillor|Mr|Mrs|Ms|Miss|Rev|Revd)\.?"
SPEAKER_ON = re.compile(
    rf"^(?:{HONORIFIC} )?(?P<name>[A-Z][\w’'\-]+(?: [A-Z][\w’'\-]+){{1,2}}) "
    r"(?:on|talks about|talks to us about|discusses|explains|describes|reflects on|speaks about)\s"
)
NAME_TOKEN = re.compile(r"^(?:[A-Z][a-z’'\-]*[a-z]|[A-Z]\.|(?:Mc|Mac|O’|O')[A-Z][a-z]+|van|von|de|der|da|di|du|le|la|bin|al)$")
MAX_HEADING_CHARS = 120
MAX_HEADING_WORDS = 14
REPEATED_LABEL = 4  # a stand-alone line seen this often is a label or attribution, not a heading


def lines_with_offsets(text: str) -> list[tuple[int, int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line), line))
        pos += len(line) + 1
    return out


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", s.lower().replace("**", "")).strip()


def _strip_span(text: str, start: int, end: int) -> Span:
    seg = text[start:end]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    return start + lead, end - trail


def _running_lines(lines: list[tuple[int, int, str]]) -> set[str]:
    """Lines at page edges (first/last two of a page) repeated on many pages."""
    pages: list[list[str]] = [[]]
    for _, _, line in lines:
        if "\f" in line:
            pages.append([])
        elif line.strip():
            pages[-1].append(re.sub(r"\d+", "#", line.strip().lower()))
    if len(pages) < 3:
        return set()
    edge = Counter()
    for page in pages:
        edge.update(set(page[:2] + page[-2:]))
    need = max(3, int(0.4 * len(pages)))
    return {line for line, n in edge.items() if n >= need}


def _table_of_contents(lines: list[tuple[int, int, str]]) -> tuple[list[tuple[str, bool]], Span | None]:
    """Entries (title, indented) of a table of contents and the span it covers."""
    for i, (start, _, line) in enumerate(lines):
        if not TOC_TITLE.match(line):
            continue
        entries, end, misses = [], None, 0
        for s, e, entry in lines[i + 1 :]:
            if not entry.strip() or "\f" in entry or PAGE_NUMBER.match(entry):
                continue
            m = TOC_ENTRY.match(entry)
            if not m:
                misses += 1
                if misses > 1 or entries:
                    break
                continue
            entries.append((m.group("title").strip(), entry[:1] in "\t "))
            end = e
        if len(entries) >= 3:
            return entries, (start, end)
    return [], None


def _looks_like_heading(line: str) -> bool:
    s = line.strip().replace("**", "")
    if not s or len(s) > MAX_HEADING_CHARS or len(s.split()) > MAX_HEADING_WORDS:
        return False
    if BULLET.match(line) or s[-1] in ".,;:!" or "|" in s or "http" in s or "@" in s:
        return False
    if not (s[0].isupper() or s[0].isdigit() or s[0] in "‘'\"“"):
        return False
    if NUMBERED.match(s):
        return True
    if "," in s or ". " in s or ":" in s or PAGE_NUMBER.match(s) or DATE_LINE.match(s):
        return False
    return sum(c.isalpha() for c in s) >= 3


def is_back_matter_title(title: str) -> bool:
    """A heading that starts back matter: "References", "About the author(s)", "SEE ALSO" ..."""
    key = re.sub(r"\s+", " ", title.replace("**", "").replace("(s)", "s")).strip(" \t:.#*").lower()
    return bool(BACK_MATTER_TITLE.match(key))


def _man_sections(text: str, lines: list[tuple[int, int, str]]) -> list[Heading]:
    """Man-page layout: upper-case section lines at column 0 followed by indented text (level 1),
    and sub-section lines indented two to four spaces followed by deeper text (level 2).
    Needs two sections at least; otherwise []."""

    def next_line(i: int) -> str:
        return next((l for _, _, l in lines[i + 1 :] if l.strip()), "")

    def blank_before(i: int) -> bool:
        return i == 0 or not lines[i - 1][2].strip() or bool(MAN_EDGE.match(lines[i - 1][2]))

    sections = []
    for i, (s, _, line) in enumerate(lines):
        title = line.rstrip()
        if (
            title and len(title) <= 40 and CAPS_SECTION.match(title) and sum(c.isalpha() for c in title) >= 2
            and blank_before(i) and next_line(i)[:1] in (" ", "\t")
        ):
            sections.append(Heading(s, s + len(title), title, 1))
    if len(sections) < 2:
        return []
    subs = []
    for i, (s, _, line) in enumerate(lines):
        m = MAN_SUBSECTION.match(line)
        if not m or s < sections[0].start or not blank_before(i):
            continue
        indent, title = len(m.group(1)), m.group(2)
        nxt = next_line(i)
        if len(nxt) - len(nxt.lstrip()) <= indent or len(title) > 60 or not _looks_like_heading(title):
            continue
        subs.append(Heading(s + indent, s + indent + len(title), title, 2))
    return sorted(sections + subs, key=lambda h: h.start)


def is_caption(text: str, start: int, line: str) -> bool:
    """An image, video or table caption or a source line: "Figure 3: ...", "Source: ...", or
    "<Name> on <topic>" (a video's title) just after a line naming that person."""
    s = line.strip()
    if CAPTION.match(s):
        return True
    m = SPEAKER_ON.match(s)
    return bool(m) and m.group("name") in text[max(0, start - 600) : start]


def is_name(line: str, text: str) -> bool:
    """A person's name alone on a line ("Steve Barwick", "Dr Jane Smith"): two to four capitalised
    words, with an honorific, or none of whose words is ever written in lower case in ``text``."""
    words = line.strip().split()
    honorific = bool(words) and re.fullmatch(HONORIFIC, words[0]) is not None
    if honorific:
        words = words[1:]
    if not 2 <= len(words) <= 4 or not all(NAME_TOKEN.match(w) for w in words):
        return False
    capitals = [w for w in words if w[0].isupper() and not w.endswith(".")]
    if len(capitals) < (1 if honorific else 2):
        return False
    return honorific or not any(w.lower() in _lower_case_words(text) for w in capitals)


@lru_cache(maxsize=2)
def _lower_case_words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"(?<![\w’'-])[a-z][a-z’'-]*", text))


def drop_captions_and_names(headings: list[Heading], text: str) -> list[Heading]:
    """Headings given by markup, without captions and names (web pages mark those up as headings
    too); a level-1 heading is the page's own title and is kept even if it reads like a name."""
    return [
        h for h in headings
        if not is_caption(text, h.start, h.title) and (h.level == 1 or not is_name(h.title, text))
    ]


FOOTNOTE_MARK = re.compile(r"(?<=[a-z]{3})(?:\d{1,2}|[*†‡])$")
"""A footnote marker stuck to a heading's last word ("Systems leadership2"): not part of its name.
Only after a lower-case word of 3+ letters in a heading of two or more words ("Python3", "Web 3" stay)."""


def heading_title(line: str) -> str:
    """A heading's name as a reader writes it: one line, no emphasis marks, no footnote marker."""
    title = re.sub(r"\s+", " ", line.replace("**", "")).strip()
    return FOOTNOTE_MARK.sub("", title).strip() if " " in title else title


def structure_title(text: str, headings, debris) -> str:
    """A title from the text itself: a man page's NAME line, else the first level-1 heading if it
    is a real one (not "Introduction", "References" or a numbered section like "1 Floods"), else
    the first line that is not debris (if it is short enough to be a title)."""
    if headings and headings[0].title == "NAME":
        after = text[headings[0].end :].lstrip("\n").split("\n", 1)[0]
        if after.strip() and len(after.strip()) <= 160:
            return re.sub(r"\s+", " ", after).strip()
    first = next((h for h in headings if h.level == 1), None)
    if first and not (GENERIC_TITLE.match(first.title) or is_back_matter_title(first.title) or NUMBERED.match(first.title)):
        return first.title.replace("\ufeff", "").strip()
    for s, e, line in lines_with_offsets(text):
        line = line.replace("\ufeff", "").strip().strip("#*").strip()
        if line and line.lower() not in NAV_LINES and not any(a <= s < b for a, b in debris):
            return line if len(line) <= 120 else ""
    return ""


def page_number_lines(text: str, pages) -> list[Span]:
    """Running heads and feet of a paged document: the first or last line of a page that begins or ends with the
    number printed on that page ("Chapter 6: Legal Matters 4", "12 | Annual report"), when pages show the pattern
    often enough (at least 3 and a quarter of them) that a heading which happens to start with the page's
    number is not taken for one. The text differs on every page, so repeated-line detection misses them."""
    found: dict[tuple[str, str], list[Span]] = {}
    alone: list[Span] = []  # a line that is the page's number and nothing else ("iv", "T-2"): always a head or foot
    for p in pages:
        label = re.escape(p.label.strip())
        if not label:
            continue
        body = [(p.start + a, p.start + b) for a, b, line in lines_with_offsets(text[p.start : p.end]) if line.strip()]
        for where, span in (("first", body[0] if body else None), ("last", body[-1] if len(body) > 1 else None)):
            if span is None:
                continue
            line = text[span[0] : span[1]].strip()
            if len(line) > 110:
                continue
            if line.lower() == p.label.strip().lower():
                alone.append(_strip_span(text, *span))
                continue
            side = ("starts" if re.match(rf"(?:{label})\b", line, re.I) else
                    "ends" if re.search(rf"\b(?:{label})$", line, re.I) else None)
            if side:  # heads with the number at their end and those with it at their start are told apart
                found.setdefault((where, side), []).append(_strip_span(text, *span))
    need = max(3, len(pages) // 4)
    return sorted(alone + [s for spans in found.values() if len(spans) >= need for s in spans])


def detect_structure(text: str, markdown: bool = False, given: list[Heading] | None = None,
                     pages=()) -> tuple[list[Heading], list[Span]]:
    """Return (headings, debris spans) for ``text``; ``pages`` (qa/records.py Page) for a paged document."""
    lines = lines_with_offsets(text)
    running = _running_lines(lines)
    debris: list[Span] = list(page_number_lines(text, pages)) if pages else []
    for s, e, line in lines:
        low = line.strip().lower()
        if not low:
            continue
        if (
            "\f" in line or low in NAV_LINES or PAGE_NUMBER.match(line)
            or re.sub(r"\d+", "#", low) in running or MAN_EDGE.match(line)
        ):
            debris.append(_strip_span(text, s, e))
    toc, toc_span = _table_of_contents(lines)
    if toc_span:
        debris.append(toc_span)
    debris = sorted(set(debris))
    if given:
        return sorted(given, key=lambda h: h.start), debris

    def is_debris(s: int) -> bool:
        return any(a <= s < b for a, b in debris)

    def standalone(i: int) -> bool:
        before = i == 0 or not lines[i - 1][2].strip()
        after = i + 1 >= len(lines) or not lines[i + 1][2].strip()
        return before and after

    headings: list[Heading] = []
    if markdown:
        for s, e, line in lines:
            m = MD_HEADING.match(line)
            if m:
                a, b = m.start("title"), m.end("title")
                headings.append(Heading(s + a, s + b, heading_title(m.group("title")), len(m.group("hashes"))))
        if headings:
            return headings, debris

    man = _man_sections(text, lines)
    if man:
        return man, debris

    if toc:
        wanted = {_norm(t): indented for t, indented in toc}
        seen_numbered = False
        for i, (s, e, line) in enumerate(lines):
            key = _norm(line)
            if key in wanted and not is_debris(s) and standalone(i):
                numbered = bool(NUMBERED.match(line.strip().replace("\t", " ")))
                seen_numbered |= numbered
                level = 1 if numbered or not seen_numbered or is_back_matter_title(line) else 2
                a, b = _strip_span(text, s, e)
                headings.append(Heading(a, b, heading_title(line), level))
                del wanted[key]
        if len(headings) >= 3:
            return headings, debris
        headings = []

    counts = Counter(line.strip() for _, _, line in lines if line.strip())
    has_numbered = sum(bool(NUMBERED.match(line.strip())) for i, (_, _, line) in enumerate(lines) if standalone(i)) >= 2
    for i, (s, e, line) in enumerate(lines):
        if not line.strip() or is_debris(s) or not standalone(i) or not _looks_like_heading(line):
            continue
        if counts[line.strip()] >= REPEATED_LABEL or is_caption(text, s, line) or is_name(line, text):
            continue
        nxt = next((l for _, _, l in lines[i + 1 :] if l.strip()), "")
        if len(nxt.strip()) <= len(line.strip()) and not NUMBERED.match(line.strip()):
            continue  # a heading introduces longer text; short runs are lists or bylines
        m = NUMBERED.match(line.strip())
        level = m.group("num").count(".") + 1 if m else (2 if has_numbered else 1)
        a, b = _strip_span(text, s, e)
        headings.append(Heading(a, b, heading_title(line), level))
    return headings, debris


def section_at(headings: list[Heading] | tuple[Heading, ...], pos: int) -> tuple[str, ...]:
    """Section path (outermost first) in force at offset ``pos``."""
    path: list[Heading] = []
    for h in headings:
        if h.start > pos:
            break
        while path and path[-1].level >= h.level:
            path.pop()
        path.append(h)
    return tuple(h.title for h in path)


class Sections:
    """``section_at`` for many offsets of one document: each heading's path computed once, found by bisection
    (a 50 MB text has ~500 headings and ~350,000 sentences: a scan per sentence was a fifth of chunking)."""

    def __init__(self, headings: list[Heading] | tuple[Heading, ...]) -> None:
        self.starts = [h.start for h in headings]
        self.paths: list[tuple[str, ...]] = []
        path: list[Heading] = []
        for h in headings:
            while path and path[-1].level >= h.level:
                path.pop()
            path.append(h)
            self.paths.append(tuple(x.title for x in path))

    def __call__(self, pos: int) -> tuple[str, ...]:
        i = bisect_right(self.starts, pos) - 1
        return self.paths[i] if i >= 0 else ()
