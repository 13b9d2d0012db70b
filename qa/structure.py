"""Find a document's headings and its layout debris, by offsets into its text.

Pure functions of the text. Headings come from, in order of trust: the
loader (HTML ``h1``-``h6``), Markdown ``#`` lines, a table of contents
("Contents" followed by lines ending in page numbers), and otherwise short
stand-alone lines that look like titles. Debris is text that is layout, not
content: "Skip to content", page numbers standing alone, running headers and
footers repeated at page edges, and the table of contents itself. Debris is
never deleted from the text (offsets must hold); it is kept out of chunks.
"""

from __future__ import annotations

import re
from collections import Counter

from .records import Heading, Span

NAV_LINES = {"skip to content", "skip to main content", "back to top", "jump to navigation", "menu", "search"}
PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?\s*$", re.I)
TOC_TITLE = re.compile(r"^\s*(?:table of )?contents\s*$", re.I)
TOC_ENTRY = re.compile(r"^\s*(?P<title>\S.*?)(?:\s*\.{3,}\s*|\t+|\s{2,}|\s)(?P<page>\d{1,4})\s*$")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
NUMBERED = re.compile(rf"^(?P<num>\d{{1,2}}(?:\.\d{{1,2}})*)\.?[\t ]+(?!(?:{MONTHS})\b)(?P<title>[A-Z‘'\"“].*)$")
DATE_LINE = re.compile(rf"^(?:\d{{1,2}}\s+)?(?:{MONTHS})\s+\d{{4}}$")
MD_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$")
BULLET = re.compile(r"^\s*(?:[•\-*–·▪●◦]|\d{1,2}[.)]|[a-z][.)])\s")
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


def detect_structure(text: str, markdown: bool = False, given: list[Heading] | None = None) -> tuple[list[Heading], list[Span]]:
    """Return (headings, debris spans) for ``text``."""
    lines = lines_with_offsets(text)
    running = _running_lines(lines)
    debris: list[Span] = []
    for s, e, line in lines:
        low = line.strip().lower()
        if not low:
            continue
        if "\f" in line or low in NAV_LINES or PAGE_NUMBER.match(line) or re.sub(r"\d+", "#", low) in running:
            debris.append(_strip_span(text, s, e))
    toc, toc_span = _table_of_contents(lines)
    if toc_span:
        debris.append(toc_span)
    debris.sort()
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
                headings.append(Heading(s + a, s + b, m.group("title").strip(), len(m.group("hashes"))))
        if headings:
            return headings, debris

    if toc:
        wanted = {_norm(t): indented for t, indented in toc}
        seen_numbered = False
        for i, (s, e, line) in enumerate(lines):
            key = _norm(line)
            if key in wanted and not is_debris(s) and standalone(i):
                numbered = bool(NUMBERED.match(line.strip().replace("\t", " ")))
                seen_numbered |= numbered
                level = 1 if numbered or not seen_numbered else 2
                a, b = _strip_span(text, s, e)
                headings.append(Heading(a, b, re.sub(r"\s+", " ", line.replace("**", "")).strip(), level))
                del wanted[key]
        if len(headings) >= 3:
            return headings, debris
        headings = []

    counts = Counter(line.strip() for _, _, line in lines if line.strip())
    has_numbered = sum(bool(NUMBERED.match(line.strip())) for i, (_, _, line) in enumerate(lines) if standalone(i)) >= 2
    for i, (s, e, line) in enumerate(lines):
        if not line.strip() or is_debris(s) or not standalone(i) or not _looks_like_heading(line):
            continue
        if counts[line.strip()] >= REPEATED_LABEL:
            continue
        nxt = next((l for _, _, l in lines[i + 1 :] if l.strip()), "")
        if len(nxt.strip()) <= len(line.strip()) and not NUMBERED.match(line.strip()):
            continue  # a heading introduces longer text; short runs are lists or bylines
        m = NUMBERED.match(line.strip())
        level = m.group("num").count(".") + 1 if m else (2 if has_numbered else 1)
        a, b = _strip_span(text, s, e)
        headings.append(Heading(a, b, re.sub(r"\s+", " ", line.replace("**", "")).strip(), level))
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
