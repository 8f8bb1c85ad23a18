"""pytest plugin (entry point ``pytest11``): microgradx's checks as fixtures.

Installed with microgradx, so any test suite can write::

    def test_softplus(check_op, gradcheck):
        check_op("softplus")
        gradcheck(lambda x: x.softplus() * x, [0.3])
"""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def gradcheck() -> Callable:
    """`microgradx.testing.gradcheck`: compare backward() with central finite differences."""
    from microgradx.testing.checks import gradcheck as fn

    return fn


@pytest.fixture
def check_op() -> Callable:
    """`microgradx.testing.check_op`: the op conformance check (arity, shapes, lanes, gradients)."""
    from microgradx.testing.checks import check_op as fn

    return fn
