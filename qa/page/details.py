"""The "How this answer was chosen" view under an answer: the figures behind it, each with what it is and its scale.

Closed by default (a ``<details>``): the reply itself speaks in words and a calibrated level, and this is for the
curious. It reads only what the answer records (``Passage.scores``, ``Answer.lead_reason``, ``Answer.chance``,
``Answer.confidence``), so the page shows nothing the Python API and ``qa ask --json`` do not give. No figure
appears without a label saying what it is; a measure no cited passage has (ColBERT under ``--rerank none``
alone, the keyword list in semantic mode) is left out rather than shown empty. Copy-as-Markdown leaves it out.
"""

from __future__ import annotations

from ..records import Answer
from ..search.lead import FEATURE_WORDS
from .display import display_text, esc, gist
from .reply import citation_order, lead_sentences

SUMMARY = "How this answer was chosen"

KIND_WORDS = {
    "logit": "the first passage's cross-encoder relevance (a logit; higher is more relevant, not a probability)",
    "late": "ColBERT's best sentence score in the first passage (0 to 1; higher matches more closely)",
    "cross": "the cross-encoder's best sentence score in the first passage (a logit; not a probability)",
    "cosine": "the best sentence's cosine similarity with the question (-1 to 1; higher is closer in meaning)",
    "terms": "the share of the question's keywords in the best sentence (0 to 1)",
}
"""What an answer's ``confidence`` is, for each of answer.SCORE_KINDS: the figure the refusal reads."""

LATE_MAX = 32
"""ColBERT's passage score is a sum over the question's 32 token vectors of a cosine each: at most 32."""

QUOTE_CHARS = 90
"""The lead sentence is named by its first words, at most this many characters."""


def _num(x: float, places: int = 2) -> str:
    """A figure as the page prints it, with a true minus sign."""
    return f"{x:.{places}f}".replace("-", "−")


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "") + _num(x)


def _feature_value(scale: str, v: float) -> str:
    if scale == "yes/no":
        return "yes" if v >= 0.5 else "no"
    if scale == "position":
        return f"{_num(v)} (0 first, 1 last)"
    if scale == "z":
        return f"{_signed(v)} standard deviations from the candidates' mean"
    if scale == "logit":
        return f"{_signed(v)} (a difference of logits)"
    return f"{_num(v)} of the names (0 to 1)"


def _lead_html(answer: Answer, number: dict[int, int]) -> str:
    """The lead sentence: the calibrated chance that it answers, the lead model's share, the features that chose it."""
    leads = lead_sentences(answer, 1)
    if answer.abstained or not leads:
        return ""
    i, (a, b) = leads[0]
    p = answer.passages[i]
    quote = gist(p.text[a - p.start : b - p.start], QUOTE_CHARS)
    rows = []  # (term, its description as HTML)
    if answer.chance is not None:
        n = round(answer.chance * 10)
        often = "fewer than 1" if n < 1 else "more than 9" if n > 9 else f"about {n}"
        rows.append(("Calibrated chance that it answers",
                     esc(f"{round(100 * answer.chance)}%: leads scored like this were right {often} in 10 times on "
                         "the evaluation set")))
    else:
        rows.append(("Calibrated chance that it answers", "not calibrated under these search settings"))
    why = answer.lead_reason
    if why is not None and answer.lead is not None and (answer.lead[0], tuple(answer.lead[1])) == (i, (a, b)):
        rows.append(("The lead model's share for it",
                     esc(f"{_num(why.probability)} of the whole, shared by the {why.candidates} quotable sentences of "
                         "the first passages that it weighed (not calibrated)")))
        parts = sorted(((v * w, f, v, w) for f, v, w in why.features if v * w), key=lambda t: -abs(t[0]))
        items = "".join(
            f"<li>{esc(FEATURE_WORDS[f][0])}: {esc(_feature_value(FEATURE_WORDS[f][1], v))} × weight {esc(_num(w))} "
            f"= {esc(_signed(c))}</li>" for c, f, v, w in parts)
        rows.append(("What chose it",
                     "Each feature's value × its weight (fitted on the dev split of the evaluation set) = what it adds "
                     f"to the sentence's score against the others, largest first.<ul>{items}</ul>" if items else
                     "no feature set it apart"))
        if why.runner_up is not None:
            j, (c, d), share = why.runner_up
            pj = answer.passages[j]
            marker = f" [{number[j]}]" if j in number else ""
            rows.append(("Next in line",
                         esc(f"“{gist(pj.text[c - pj.start : d - pj.start], QUOTE_CHARS)}”{marker}, share "
                             f"{_num(share)}: the sentence it weighed second, the first place to look when the lead "
                             "does not answer")))
    else:
        rows.append(("What chose it", "the best-scoring quotable sentence of the first passages (no lead model under "
                                      "these search settings)"))
    dl = "".join(f"<div><dt>{esc(t)}</dt><dd>{d}</dd></div>" for t, d in rows)
    return (f'<p class="qa-details-head">The sentence it leads with, “{esc(quote)}” [{number[i]}]</p>'
            f'<dl class="qa-details-list">{dl}</dl>')


def _refusal_html(answer: Answer) -> str:
    what = KIND_WORDS.get(answer.kind)
    if what is None or not answer.passages:
        return ""
    verdict = ("below the level calibrated on the evaluation set, so it says the documents do not seem to answer"
               if answer.abstained else "above the level below which it would say the documents do not seem to answer")
    return (f'<dl class="qa-details-list"><div><dt>Whether to answer at all</dt><dd>It reads {esc(what)}: '
            f'{esc(_num(answer.confidence))}, {esc(verdict)}.</dd></div></dl>')


def _ordinal_cell(v: int | None) -> str:
    return '<td><span aria-hidden="true">—</span><span class="qa-sr">not measured</span></td>' if v is None else f"<td>{v}</td>"


def _score_cell(v: float | None, places: int = 2) -> str:
    return _ordinal_cell(None) if v is None else f"<td>{esc(_num(v, places))}</td>"


def _passages_html(answer: Answer, order: list[int]) -> str:
    """A table, one column per cited passage (by marker) and one row per measure, each row's header saying what
    the figure is and its scale; rows no passage has are left out."""
    scores = [answer.passages[i].scores for i in order]
    if not order or any(s is None for s in scores):
        return ""
    named = (["the semantic", "keyword"] + ["ColBERT"] * any(s.rank_late for s in scores)
             + ["bge"] * any(s.rank_second for s in scores))
    lists = {"hybrid": ", ".join(named[:-1]) + " and " + named[-1] + " lists fused by reciprocal rank",
             "dense": "the semantic list alone", "bm25": "the keyword list alone"}.get(answer.mode, "the first stage")
    reranked = any(s.rerank is not None for s in scores)
    rows = [
        ("Rank after reranking" if reranked else "Rank in the answer",
         "1 is first; the cross-encoder's order" if reranked else "1 is first",
         [f"<td>{s.rank if s.rank is not None else i + 1}</td>" for i, s in zip(order, scores)]),
        ("Rank after fusion" if answer.mode == "hybrid" else "Rank after the first stage", f"1 is first; {lists}",
         [_ordinal_cell(s.rank_fused) for s in scores]),
        ("Cross-encoder relevance", "a logit: higher is more relevant; not a probability",
         [_score_cell(s.rerank) for s in scores]),
        ("ColBERT late-interaction score", f"up to {LATE_MAX}: the best match in the passage of each of the "
         f"question's {LATE_MAX} token vectors, summed; higher is closer",
         [_score_cell(s.late, 1) for s in scores]),
        ("Rank in the ColBERT list", "1 is first", [_ordinal_cell(s.rank_late) for s in scores]),
        ("Rank in the semantic list", "1 is first; MiniLM embeddings, closest in meaning",
         [_ordinal_cell(s.rank_dense) for s in scores]),
        ("Rank in the bge list", "1 is first; bge-small-en embeddings, a second model's reading of meaning",
         [_ordinal_cell(s.rank_second) for s in scores]),
        ("Rank in the keyword list", "1 is first; BM25, the question's rarer words",
         [_ordinal_cell(s.rank_bm25) for s in scores]),
    ]
    head = "".join(f'<th scope="col">[{n}]<span class="qa-sr"> {esc(display_text(answer.passages[i].title))}</span></th>'
                   for n, i in enumerate(order, 1))
    body = "".join(f'<tr><th scope="row">{esc(label)} <span class="qa-details-scale">({esc(scale)})</span></th>'
                   f'{"".join(cells)}</tr>'
                   for label, scale, cells in rows if any("not measured" not in c for c in cells))
    note = ('<p class="qa-details-note">— : not measured for that passage (it was not among that list\'s candidates, '
            "or past the passages the cross-encoder rereads).</p>") if "not measured" in body else ""
    return (
        '<div class="qa-details-table" role="region" tabindex="0" aria-label="How each cited passage ranked">'
        '<table><caption>How each cited passage ranked, by its marker</caption>'
        f'<thead><tr><th scope="col">Measure</th>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}'
    )


def details_html(answer: Answer) -> str:
    """The closed "How this answer was chosen" view of ``answer``: the lead sentence and why it leads, whether to
    answer at all, then how each cited passage ranked ("" when the answer cites nothing)."""
    if not answer.passages:
        return ""
    order = citation_order(answer)
    number = {i: n for n, i in enumerate(order, 1)}
    body = _lead_html(answer, number) + _refusal_html(answer) + _passages_html(answer, order)
    return (f'<details class="qa-details"><summary>{SUMMARY}</summary>'
            '<div class="qa-details-body"><p class="qa-details-intro">The figures behind this answer, each on its '
            "own scale. Only the chance is calibrated; the others order things and are not probabilities.</p>"
            f"{body}</div></details>")
