"""pytest plugin (entry point ``pytest11``): microgradx's checks as fixtures.

Installed with microgradx, so any test suite can write::

    def test_softplus(check_op, gradcheck):
        check_op("softplus", order=2)      # order=2: its second derivatives too
        gradcheck(lambda x: x.softplus() * x, [0.3])

    def test_huber(check_loss):
        check_loss("huber_regression", settings={"delta": 0.5})

    def test_rmsprop(check_optimizer):
        check_optimizer("rmsprop", invalid=[{"alpha": 1.0}])

Each fixture is the function of `microgradx.testing` of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def gradcheck() -> Callable[..., Any]:
    """`microgradx.testing.gradcheck`: compare backward() with central finite differences."""
    from microgradx.testing.checks import gradcheck as fn

    return fn


@pytest.fixture
def gradgradcheck() -> Callable[..., Any]:
    """`microgradx.testing.gradgradcheck`: second derivatives (create_graph=True) against central differences."""
    from microgradx.testing.checks import gradgradcheck as fn

    return fn


@pytest.fixture
def check_op() -> Callable[..., Any]:
    """`microgradx.testing.check_op`: the op contract (arity, shapes, lanes, edge cases, gradients)."""
    from microgradx.testing.checks import check_op as fn

    return fn


@pytest.fixture
def check_loss() -> Callable[..., Any]:
    """`microgradx.testing.check_loss`: the loss contract (shapes, mean over examples, gradients, l2)."""
    from microgradx.testing.contracts import check_loss as fn

    return fn


@pytest.fixture
def check_optimizer() -> Callable[..., Any]:
    """`microgradx.testing.check_optimizer`: the optimizer contract (direction, lr, settings)."""
    from microgradx.testing.contracts import check_optimizer as fn

    return fn
