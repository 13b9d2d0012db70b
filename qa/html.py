"""HTML to plain text with heading offsets, using BeautifulSoup.

Block elements become paragraphs separated by blank lines; ``h1``-``h6``
become headings at their level. Script, style and navigation are dropped,
so markup in a document is never passed on as markup.
"""

from __future__ import annotations

import re

from .records import Heading

BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "table", "tr", "blockquote",
    "pre", "h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "aside", "figure", "figcaption",
    "dl", "dt", "dd", "br", "hr", "body",
}
DROP = {"script", "style", "noscript", "template", "nav", "head", "svg", "form", "button", "iframe"}


def html_to_text(markup: str) -> tuple[str, str, list[Heading]]:
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    soup = BeautifulSoup(markup, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    parts: list[str] = []
    headings: list[Heading] = []
    length = 0

    def emit(s: str) -> None:
        nonlocal length
        parts.append(s)
        length += len(s)

    def block_break() -> None:
        tail = "".join(parts[-2:])
        if length and not tail.endswith("\n\n"):
            emit("\n\n" if not tail.endswith("\n") else "\n")

    def walk(node) -> None:
        for child in node.children:
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
            if not isinstance(child, Tag) or child.name in DROP:
                continue
            name = child.name
            if name in BLOCKS:
                block_break()
            if re.fullmatch(r"h[1-6]", name):
                text = re.sub(r"\s+", " ", child.get_text(" ", strip=True))
                if text:
                    start = length
                    emit(text)
                    headings.append(Heading(start, length, text, int(name[1])))
                block_break()
                continue
            if name == "li":
                emit("• ")
            walk(child)
            if name in BLOCKS:
                block_break()

    walk(soup.body or soup)
    text = "".join(parts).strip("\n")
    # strip("\n") at the front shifts offsets; recompute by the amount removed.
    lead = len("".join(parts)) - len("".join(parts).lstrip("\n"))
    headings = [Heading(h.start - lead, h.end - lead, h.title, h.level) for h in headings]
    return text, title, headings
