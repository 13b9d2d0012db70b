"""One exchange of the conversation as the page keeps it (in Gradio's per-reader state): what was asked, what
answered it, which build answered and what each citation marker opens."""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("pending", "answer", "error")


@dataclass
class Turn:
    number: int  # from 1, in the order asked
    question: str  # as the engine read it (cleaned, cut)
    note: str = ""  # said under the question: it was cut, or misspelt words were put right
    kind: str = "pending"  # "pending" until answered, then "answer" or "error"
    html: str = ""  # the reply as shown (qa/page/reply.py answer_html or error_html)
    details: str = ""  # "How this answer was chosen", closed under the reply (qa/page/details.py); not copied
    text: str = ""  # the exchange as plain Markdown, for Copy conversation
    answer: dict | None = None  # Answer.to_dict(), as /ask returns it
    settings: dict = field(default_factory=dict)  # k, mode and sources it was asked with
    build: str = ""  # the index build that answered: citations open in its text
    cites: list[tuple[str, int, int, list]] = field(default_factory=list)  # marker n: cites[n - 1], (source, start, end, highlights)
    lead: list[tuple[str, int, int]] = field(default_factory=list)  # the sentences the reply leads with
    verdict: str | None = None  # "helpful" or "not helpful" once the reader said so

    @property
    def answered(self) -> bool:
        return self.kind == "answer"


def find(turns, number: int) -> Turn | None:
    """The answered turn ``number`` of a conversation, or None."""
    return next((t for t in turns or [] if t.number == number and t.answered), None)
