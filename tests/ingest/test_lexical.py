"""BM25 reads text the same way when building and when asking."""

from __future__ import annotations

from qa.config import IndexSettings
from qa.ingest.lexical import query_terms, tokenize


def test_stop_words_go_and_words_are_stemmed():
    assert query_terms("Are the leaders leading?") == ["leader", "lead"]


def test_the_query_terms_are_the_build_vocabulary():
    tokens = tokenize(["Leaders lead integrated systems.", "Systems of care"])
    vocab = set(tokens.vocab)
    assert set(query_terms("leading systems")) <= vocab


def test_without_a_stemmer_words_stay_whole():
    assert query_terms("leaders leading", IndexSettings(bm25_stemmer="")) == ["leaders", "leading"]
