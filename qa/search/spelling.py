"""Misspelt questions: each word the documents never use is put right to the nearest word they do use.

The vocabulary is the index's own (every word of every chunk, with its count), so a correction can only ever
lead to words that are in the documents, and a word of the question that is in them is never touched. A word
is corrected only when it is long enough to judge (``MIN_LETTERS``), is not an English word the models know
(``known``: the whole words of the BERT vocabulary the models share) nor another form of one of those or
of the documents' words ("fixes", "forging", "unsalaried": same Snowball stem, or a prefix on one), and a word of the documents lies within
one edit of it (two for long words: ``LONG_WORD``), an edit being a letter added, dropped, changed or two
letters swapped (Damerau-Levenshtein); among equally near words the most frequent wins. A word with nothing
near stays as typed: "mercury" in a corpus about health policy is not a typo, and is not made one.

    >>> speller = Speller({"leaders": 12, "interview": 3, "report": 40, "timmins": 9, "the": 900})
    >>> speller.correct("How many leeders did Timins intervew for the reprot?")
    ('How many leaders did Timmins interview for the report?', (('leeders', 'leaders'), ('Timins', 'Timmins'), ('intervew', 'interview'), ('reprot', 'report')))
    >>> speller.correct("What is the boiling point of mercury?")[1]
    ()
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

MIN_LETTERS = 4
"""Shorter words are left alone: at one edit, most short words are near several others."""
LONG_WORD = 9
"""From this length two edits are allowed."""

_WORD = re.compile(r"[A-Za-z][a-z]+")


_STEM_LOCK = threading.Lock()
_STEMMER = None


def _stem(word: str) -> str:
    """Snowball's English stem (PyStemmer's objects are not safe to share between threads: one at a time)."""
    global _STEMMER
    with _STEM_LOCK:
        if _STEMMER is None:
            import Stemmer

            _STEMMER = Stemmer.Stemmer("english")
        return _STEMMER.stemWord(word)


def vocabulary(texts: Iterable[str]) -> Counter:
    """Lower-case words of the texts with their counts (apostrophes split words: "King's" gives "king")."""
    counts: Counter = Counter()
    for t in texts:
        counts.update(w.lower() for w in _WORD.findall(t))
    return counts


class Speller:
    """Corrects a question's words to the documents' vocabulary. Thread-safe (read-only after construction)."""

    def __init__(self, counts: Mapping[str, int], known: Iterable[str] = ()) -> None:
        self.counts = dict(counts)
        self.words = list(self.counts)
        self.known = frozenset(known)
        self.stems = frozenset(_stem(w) for w in (*self.words, *self.known))

    def suggest(self, word: str) -> str | None:
        """The documents' word nearest to ``word`` (lower case), or None when it is theirs or none is near."""
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        w = word.lower()
        if len(w) < MIN_LETTERS or w in self.counts or w in self.known or self._a_form_of_a_known_word(w):
            return None
        limit = 2 if len(w) >= LONG_WORD else 1
        found = process.extract(w, self.words, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=None)
        if not found:
            return None
        best = min(found, key=lambda m: (m[1], -self.counts[m[0]], m[0]))
        return best[0]

    def _a_form_of_a_known_word(self, w: str) -> bool:
        """"fixes", "forging", "unsalaried": another form of a word the documents or the models know, not a typo."""
        if _stem(w) in self.stems:
            return True
        for prefix in ("un", "non", "dis", "re", "in", "im", "mis", "over", "under"):
            rest = w[len(prefix) :]
            if w.startswith(prefix) and len(rest) >= MIN_LETTERS and (rest in self.counts or rest in self.known or _stem(rest) in self.stems):
                return True
        return False

    def correct(self, question: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """(the question with its misspelt words put right, the (typed, corrected) pairs); case kept."""
        changes = []
        out = []
        at = 0
        for m in _WORD.finditer(question):
            fix = self.suggest(m.group())
            if fix is None:
                continue
            typed = m.group()
            fixed = fix.capitalize() if typed[0].isupper() else fix
            out.append(question[at : m.start()] + fixed)
            at = m.end()
            changes.append((typed, fixed))
        out.append(question[at:])
        return "".join(out), tuple(changes)


def model_words() -> frozenset[str]:
    """The whole words (no ``##`` pieces, letters only) of the BERT vocabulary of the shipped cross-encoder;
    empty when the model is not installed (then every unknown word may be corrected)."""
    try:
        from ..models.onnx_models import tokenizer

        vocab = tokenizer("reranker_en", 32).get_vocab()
    except Exception:  # noqa: BLE001 - no model files: correct without the English check
        return frozenset()
    return frozenset(w for w in vocab if w.isalpha() and w.islower())
