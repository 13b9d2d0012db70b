"""HTML to plain text with heading offsets, using BeautifulSoup.

Block elements become paragraphs separated by blank lines; ``h1``-``h6``
become headings at their level. Script, style and navigation (``nav``, and
anything marked ``role="navigation"`` or ``role="search"``) are dropped, so
markup in a document is never passed on as markup. Permalink anchors after
headings (Sphinx's "¶" ``a.headerlink`` and the like) are dropped too, so
they reach neither the text nor a heading's title. Page footers (``footer``,
``role="contentinfo"``, ``class="footer"``) stay in the text and are
reported as spans, for back matter.

The title is the ``<title>``, or the first ``<h1>`` when the ``<title>`` is
that heading plus the site's name ("IDLE — Python 3.13 documentation" gives
"IDLE"), or when there is no usable ``<title>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..records import Heading, Span

BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "table", "tr", "blockquote",
    "pre", "h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "aside", "figure", "figcaption",
    "dl", "dt", "dd", "br", "hr", "body",
}
DROP = {"script", "style", "noscript", "template", "nav", "head", "svg", "form", "button", "iframe"}
DROP_ROLES = {"navigation", "search"}
ANCHOR_CLASSES = {"headerlink", "anchor-link", "anchorjs-link", "header-anchor", "heading-anchor", "anchor", "permalink"}
ANCHOR_MARKS = "¶#§🔗"
TITLE_SEPARATORS = ("—", "–", "-", "|", ":", "·", "»")


@dataclass
class HtmlText:
    text: str
    title: str = ""
    headings: list[Heading] = field(default_factory=list)
    footers: list[Span] = field(default_factory=list)


@dataclass(frozen=True)
class _Closed:
    """Where a tag's children end in html_to_text's walk: a block break is due, and a footer may end."""

    block: bool
    footer_start: int | None


def _is_footer(tag) -> bool:
    classes = tag.get("class") or []
    return tag.name == "footer" or tag.get("role") == "contentinfo" or "footer" in classes


def _drop(tag) -> bool:
    if tag.name in DROP or tag.get("role") in DROP_ROLES:
        return True
    if tag.name == "a":  # a permalink anchor ("¶") after a heading or definition, not a link with words
        mark = tag.get_text(strip=True)
        if all(c in ANCHOR_MARKS for c in mark):
            in_page = bool(mark) and str(tag.get("href", "")).startswith("#")
            return in_page or bool(ANCHOR_CLASSES & set(tag.get("class") or []))
    return False


def clean_heading(s: str) -> str:
    """A heading's text on one line, without a trailing permalink mark ("Usage ¶", not "C#")."""
    s = re.sub(r"\s+", " ", s).strip()
    return re.sub(r"(?:\s*[¶§🔗]+|\s+#+)$", "", s).strip()


def html_to_text(markup: str) -> HtmlText:
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    soup = BeautifulSoup(markup, "html.parser")
    page_title = re.sub(r"\s+", " ", soup.title.get_text(" ", strip=True)) if soup.title else ""
    for tag in soup.find_all(_drop):
        if not tag.decomposed:
            tag.decompose()
    parts: list[str] = []
    headings: list[Heading] = []
    footers: list[Span] = []
    length = 0

    def emit(s: str) -> None:
        nonlocal length
        parts.append(s)
        length += len(s)

    def block_break() -> None:
        if parts and parts[-1] == "• ":
            return  # a list item's first paragraph stays on the bullet's line
        tail = "".join(parts[-2:])
        if length and not tail.endswith("\n\n"):
            emit("\n\n" if not tail.endswith("\n") else "\n")

    def walk(root) -> None:
        """Every node below ``root`` in document order, with a list for a stack rather than recursion, so a page
        nested 20,000 elements deep is read like any other. ``_Closed`` items stand where a tag ends."""
        stack: list = list(reversed(list(root.children)))
        while stack:
            child = stack.pop()
            if isinstance(child, _Closed):
                if child.block:
                    block_break()
                if child.footer_start is not None and length > child.footer_start:
                    footers.append((child.footer_start, length))
                continue
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                s = re.sub(r"\s+", " ", str(child))
                if s.strip() or (s and parts and not parts[-1].endswith((" ", "\n"))):
                    if not parts or parts[-1].endswith("\n"):
                        s = s.lstrip()
                    if s:
                        emit(s)
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in BLOCKS:
                block_break()
            if re.fullmatch(r"h[1-6]", name):
                text = clean_heading(child.get_text(" ", strip=True))
                if text:
                    start = length
                    emit(text)
                    headings.append(Heading(start, length, text, int(name[1])))
                block_break()
                continue
            footer_start = length if _is_footer(child) else None
            if name == "li":
                emit("• ")
            stack.append(_Closed(name in BLOCKS, footer_start))
            stack.extend(reversed(list(child.children)))

    walk(soup.body or soup)
    raw = "".join(parts)
    text = raw.strip("\n")
    # strip("\n") at the front shifts offsets; recompute by the amount removed.
    lead = len(raw) - len(raw.lstrip("\n"))
    headings = [Heading(h.start - lead, h.end - lead, h.title, h.level) for h in headings]
    spans = []
    for a, b in footers:
        a, b = max(0, a - lead), min(len(text), b - lead)
        seg = text[a:b]
        a, b = a + len(seg) - len(seg.lstrip()), b - (len(seg) - len(seg.rstrip()))
        if b > a:
            spans.append((a, b))
    h1 = next((h.title for h in headings if h.level == 1), "")
    return HtmlText(text, choose_title(page_title, h1), headings, spans)


def choose_title(page_title: str, h1: str) -> str:
    """The page's ``<title>``, unless it is the first ``<h1>`` plus a site name; the ``<h1>`` if no title."""
    if not page_title:
        return h1
    if h1 and page_title.startswith(h1) and page_title[len(h1) :].strip()[:1] in TITLE_SEPARATORS:
        return h1
    return page_title
