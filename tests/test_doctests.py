"""The runnable examples in the docstrings are checked (the answer builder, the question reader, the short
answer, the lead, the quotable rules, the eval breakdown)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["qa.search.answer", "qa.search.question", "qa.search.short", "qa.search.lead", "qa.search.quotable", "qa.search.spelling", "qa.measure.typos",
           "qa.measure.breakdown"]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
