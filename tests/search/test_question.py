"""What a question asks: the kind of short answer, its names and its topic without them."""

from __future__ import annotations

import pytest

from qa.search.question import kind_of, mentions, names, topic


@pytest.mark.parametrize("question, kind", [
    ("How many leaders did Timmins interview?", "number"),
    ("How much money does the region spend on care?", "amount"),
    ("What level of public spending is at stake?", "amount"),
    ("What share of their time do leaders spend on partnership work?", "share"),
    ("Who leads Surrey Heartlands?", "person"),
    ("When were the interviews carried out?", "date"),
    ("Where did councils complain in public?", "place"),
    ("What word do chairs use for the authority they have?", "term"),
    ("How do chairs respond when asked what authority they have?", "term"),
    ("Why is collaboration hard?", None),
    ("What does Claire Fuller find hardest?", None),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert kind_of(question) == kind


def test_names_are_capitalised_words_after_the_first_not_acronyms():
    q = "What does Claire Fuller's ICS find hardest about the NHS?"
    assert names(q) == ("claire", "fuller")
    assert topic(q) == "What does ICS find hardest about the NHS?"
    assert names("Why is collaboration hard?") == () and topic("Why is collaboration hard?") == "Why is collaboration hard?"


def test_mentions_is_the_share_of_the_names_a_text_holds():
    who = ("claire", "fuller")
    assert mentions(who, "Dr Fuller said so.") == 0.5
    assert mentions(who, "Claire Fuller's view") == 1.0
    assert mentions((), "anything") == 0.0
