"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "microgradx",
    "microgradx.engine.value",
    "microgradx.engine.op",
    "microgradx.engine.anomaly",
    "microgradx.draw.dot",
    "microgradx.draw.inline",
    "microgradx.draw.steps",
    "microgradx.cli.graph",
    "microgradx.nn",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples to run"
    assert result.failed == 0
