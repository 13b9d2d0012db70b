"""The short answer: the smallest span of the lead sentence that gives what the question asks for."""

from __future__ import annotations

import pytest

from qa.search.short import short_answer


@pytest.mark.parametrize("question, sentence, expected", [
    ("How many leaders did Timmins interview?", "Through interviews with 16 leaders of such systems, Timmins concludes.", "16"),
    ("How much money was saved?", "The programme saved £1.2 billion over three years.", "£1.2 billion"),
    ("What level of public spending is at stake?", "Some £3.3 billion of public spending is at stake.", "£3.3 billion"),
    ("What share of their time goes on partnership?",
     "Leaders spent 10-20% of their time on partnership ten years ago. Now it needs to be 50%", "10-20%"),
    ("Who leads Surrey Heartlands?", "Dr Claire Fuller, senior responsible officer at Surrey Heartlands, said it.", "Dr Claire Fuller"),
    ("When were the interviews conducted?", "The interviews were mainly conducted during August and September 2019.",
     "August and September 2019"),
    ("How do chairs respond when asked what authority they have?", "Asked that, many give the answer 'none'.", "none"),
])
def test_the_short_answer_is_the_span_of_the_kind_asked_for(question, sentence, expected):
    span = short_answer(question, sentence)
    assert span is not None, question
    assert sentence[span[0]:span[1]] == expected


def test_the_candidate_nearest_the_questions_words_wins():
    s = "In 2015 there were 44 partnerships; by 2019, 14 systems served 12 million people."
    a, b = short_answer("How many systems were there by 2019?", s)
    assert s[a:b] == "14"


@pytest.mark.parametrize("question, sentence", [
    ("Why is collaboration hard?", "Because 16 leaders said so."),  # a reason has no short answer
    ("How many leaders were interviewed?", "Leaders were interviewed at length."),  # no number: nothing marked
    ("Who leads Surrey Heartlands?", "Surrey Heartlands is led well."),  # the only name is the question's own
])
def test_no_short_answer_rather_than_a_wrong_one(question, sentence):
    assert short_answer(question, sentence) is None
