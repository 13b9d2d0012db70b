"""How BM25 reads text: one tokeniser for the build and the query alike.

Snowball stemming and an English stop list, as set in ``IndexSettings``; the
build records them in the manifest, so a change means a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import IndexSettings


def _stemmer(language: str):
    """A new stemmer per call: PyStemmer objects are not safe to share between threads, and cost microseconds."""
    import Stemmer

    return Stemmer.Stemmer(language)


def tokenize(texts: Sequence[str], settings: IndexSettings = IndexSettings()):
    """bm25s token ids and vocabulary for ``texts`` (what ``bm25s.BM25.index`` takes)."""
    import bm25s

    stemmer = _stemmer(settings.bm25_stemmer) if settings.bm25_stemmer else None
    return bm25s.tokenize(list(texts), stopwords=settings.bm25_stopwords, stemmer=stemmer, show_progress=False)


def query_terms(question: str, settings: IndexSettings = IndexSettings()) -> list[str]:
    """The stemmed terms of a question, in order, stop words removed."""
    tokens = tokenize([question], settings)
    vocab_inv = {v: k for k, v in tokens.vocab.items()}
    return [vocab_inv[i] for i in tokens.ids[0]]
