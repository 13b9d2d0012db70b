"""The seeded misspelling rule of `qa eval --typos`."""

from __future__ import annotations

import re

from qa.measure.evalset import load_questions
from qa.measure.typos import misspell


def test_the_same_seed_misspells_the_same_way_and_changes_one_or_two_words():
    questions = [q.question for q in load_questions()]
    changed = 0
    for q in questions:
        once, again = misspell(q, seed=0), misspell(q, seed=0)
        assert once == again
        a, b = re.findall(r"\S+", q), re.findall(r"\S+", once)
        assert len(a) == len(b)
        diff = sum(x != y for x, y in zip(a, b))
        assert diff <= 2
        changed += diff > 0
    assert changed >= 0.95 * len(questions)
