"""Small documents and passages with markup in them, and what a browser shows of markup: shared by the tests
of the page's HTML (test_reply, test_panel, test_display, test_render)."""

import html
import re

from qa.records import Document, Heading, Passage

TEXT = (
    "Intro\n\nA page about <b>tags</b> & things.\n\n"
    "Danger\n\nSome documents hold <script>alert(1)</script> in their text. "
    "The answer sentence is this one. After it, more text follows.\n"
)


def doc() -> Document:
    danger = TEXT.index("Danger")
    return Document(
        source="odd <name>.txt", text=TEXT, title="Tags & <i>Scripts</i>", sha256="0" * 64,
        author="A. Author", publisher="A. Author", date="2020",
        headings=(Heading(0, 5, "Intro", 1), Heading(danger, danger + 6, "Danger", 1)),
    )


def passage(d: Document) -> Passage:
    start = d.text.index("Some documents")
    end = d.text.index("follows.") + len("follows.")
    a = d.text.index("The answer sentence")
    b = a + len("The answer sentence is this one.")
    return Passage(
        source=d.source, title=d.title, section=("Danger",), start=start, end=end, text=d.text[start:end],
        score=0.5, highlights=((a, b),), highlight_scores=(0.8,),
    )


def visible_text(markup: str) -> str:
    """What a browser shows for ``markup`` (tags dropped, entities decoded, <br> as a newline)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup.replace("<br>", "\n")))


def text_doc(text: str, source: str = "d.md", title: str = "Doc", date: str = "2019") -> Document:
    return Document(source=source, text=text, title=title, sha256="0" * 64, date=date)
