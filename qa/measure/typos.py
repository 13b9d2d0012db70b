"""Misspell a question set by a fixed, seeded rule: ``qa eval --typos`` asks every question this way too.

Each question gets one or two misspelt content words (two when it has at least six), each by one edit chosen
at random: two neighbouring letters swapped, a letter dropped, a letter doubled, or a vowel changed. The
seed makes the same questions come out the same on every run, so a change in the figures is the engine's.

    >>> misspell("How many leaders did Timmins interview for the report?", seed=1) != misspell("How many leaders did Timmins interview for the report?", seed=2)
    True
    >>> misspell("Why?", seed=1)
    'Why?'
"""

from __future__ import annotations

import dataclasses
import random
import re

from .evalset import STOP, Question

MIN_LETTERS = 5
"""Only words of at least this many letters are misspelt (a typo in "NHS" or "the" is another word)."""
VOWELS = "aeiou"


def _edit(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)  # never the first letter: people rarely get it wrong
    kind = rng.choice(("swap", "drop", "double", "vowel"))
    if kind == "swap" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    vowels = [j for j in range(1, len(word)) if word[j].lower() in VOWELS]
    if not vowels:
        return word[:i] + word[i + 1 :]
    j = rng.choice(vowels)
    other = rng.choice([v for v in VOWELS if v != word[j].lower()])
    return word[:j] + other + word[j + 1 :]


def misspell(question: str, seed: int = 0) -> str:
    """The question with one or two of its content words misspelt (unchanged when it has none)."""
    rng = random.Random(f"{seed}:{question}")
    words = [m for m in re.finditer(r"[A-Za-z]+", question) if len(m.group()) >= MIN_LETTERS and m.group().lower() not in STOP]
    if not words:
        return question
    n = 2 if len(words) >= 6 else 1
    chosen = sorted(rng.sample(words, min(n, len(words))), key=lambda m: m.start(), reverse=True)
    out = question
    for m in chosen:
        out = out[: m.start()] + _edit(m.group(), rng) + out[m.end() :]
    return out


def misspelt(questions: list[Question], seed: int = 0) -> list[Question]:
    return [dataclasses.replace(q, question=misspell(q.question, seed)) for q in questions]
