"""Misspelt questions are put right to the documents' own words, and nothing else is touched."""

from __future__ import annotations

import pytest

from qa.search.spelling import Speller, vocabulary

WORDS = vocabulary(["Through each interview with 16 leaders, Timmins concludes the report.",
                    "The King's Fund published it. Partnership working is salaried and fixed."])


@pytest.mark.parametrize("typed, fixed", [
    ("How many leeders did Timins intervew?", "How many leaders did Timmins interview?"),
    ("What does the reprot say?", "What does the report say?"),
    ("Partnrship working", "Partnership working"),
])
def test_misspelt_words_become_the_documents_words(typed, fixed):
    assert Speller(WORDS).correct(typed)[0] == fixed


@pytest.mark.parametrize("question", [
    "What is the boiling point of mercury?",  # not a typo: nothing in the documents is near
    "Who is unsalaried?",  # a prefix on a word of theirs
    "What fixes it?",  # another form of "fixed"
    "Who are the leaders?",
])
def test_words_that_are_not_typos_are_left_alone(question):
    assert Speller(WORDS).correct(question) == (question, ())


def test_an_english_word_the_models_know_is_never_corrected():
    assert Speller(WORDS).correct("How many readers?")[0] == "How many leaders?"
    assert Speller(WORDS, known={"readers"}).correct("How many readers?") == ("How many readers?", ())


def test_the_most_frequent_of_equally_near_words_wins_and_case_is_kept():
    s = Speller({"costs": 1, "posts": 5})
    assert s.correct("Hosts") == ("Posts", (("Hosts", "Posts"),))
