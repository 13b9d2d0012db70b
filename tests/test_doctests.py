"""The runnable examples in the docstrings are checked (the answer builder, the question reader, the short
answer, the lead, the quotable rules, the eval breakdown)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["qa.search.answer", "qa.search.question", "qa.search.short", "qa.search.lead", "qa.search.quotable", "qa.search.spelling", "qa.measure.typos",
           "qa.measure.breakdown", "qa.measure.lead"]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0


@pytest.mark.model
@pytest.mark.parametrize("target", ["qa.engine.Engine.ask", "qa.search.retrieve.Retriever.search"])
def test_the_examples_of_the_engine_and_the_retriever_run_on_the_seed_index(engine, target):
    module, cls, name = target.rsplit(".", 2)
    func = getattr(getattr(importlib.import_module(module), cls), name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(func, name, globs={"engine": engine})
    assert tests and tests[0].examples, f"{target} has no example"
    for t in tests:
        runner.run(t)
    assert runner.failures == 0 and runner.tries > 0
