"""The plugin's components against microgradx's contracts, with its pytest fixtures ``check_op``,
``gradcheck``, ``gradgradcheck``, ``check_loss`` and ``check_optimizer`` (installed with microgradx, no
import needed)."""

from __future__ import annotations

import numpy as np
import pytest
from microgradx import ops


@pytest.mark.parametrize("name", ["softplus", "leaky_relu", "huber"])
def test_ops_keep_the_op_contract(check_op, name):
    result = check_op(name, order=2)  # order=2: their second derivatives too (backward(create_graph=True))
    assert result.ok


@pytest.mark.parametrize("x", [-30.0, -3.0, -0.1, 0.0, 0.1, 3.0, 30.0])
def test_softplus_gradient_matches_finite_differences(gradcheck, x):
    assert gradcheck(lambda v: v.softplus() * v, [x]).ok
    assert gradcheck(lambda v: ops.softplus(v).tanh(), [np.array([x, -x, x / 2])]).ok


@pytest.mark.parametrize("x", [-30.0, -3.0, -0.1, 0.1, 3.0, 30.0])
def test_second_derivatives_of_compositions(gradgradcheck, x):
    assert gradgradcheck(lambda v: v.softplus() * v.leaky_relu(), [x]).ok
    assert gradgradcheck(lambda r, d: ops.huber(r * d, d), [np.array([x, -x, x / 20]), 0.7]).ok


@pytest.mark.parametrize("name, settings, outputs", [
    ("huber_regression", {"delta": 0.7}, 1),
    ("huber_regression", {}, 2),
    ("huber", {"delta": 2.0}, 1),
])
def test_losses_keep_the_loss_contract(check_loss, name, settings, outputs):
    assert check_loss(name, settings=settings, n_outputs=outputs).ok


@pytest.mark.parametrize("settings", [{}, {"alpha": 0.9, "momentum": 0.5}, {"weight_decay": 0.01, "centered": True}])
def test_rmsprop_keeps_the_optimizer_contract(check_optimizer, settings):
    invalid = [{"alpha": 1.0}, {"eps": 0.0}, {"momentum": -0.5}, {"weight_decay": float("inf")}, {"centered": 1}]
    assert check_optimizer("rmsprop", settings=settings, invalid=invalid).ok
