"""``lane_dot``: the inner product of two lane Values, the weights' gradients of a differentiated ``dot``.

Its value and derivatives are ``lane_sum(a * b)``'s (to the bit, eagerly), and PyTorch's to
second order; the compiler runs many of them as one matrix product (`LaneProducts`), equal to
eager in every layout of the pairs (a grid, a permutation, some pairs, a pair twice, an inf in
a pair no node multiplies), on fresh and on reused arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.programs import mismatch

import microgradx
from microgradx import Value, gradients, ops
from microgradx.compiler.products import LaneProducts
from microgradx.nn import DenseMLP
from microgradx.testing import check_op

N = 9  # lanes


def test_check_op():
    assert check_op("lane_dot").ok


def test_registered_by_the_reductions_plugin_with_a_formula():
    component = microgradx.get_registry().component("ops", "lane_dot")
    assert component.plugin.builtin and component.obj.reduces_lanes
    assert component.obj.formula == ("b (each lane)", "a (each lane)")


@pytest.mark.parametrize("kinds", [(True, True), (True, False), (False, True), (False, False)],
                         ids=["lanes-lanes", "lanes-float", "float-lanes", "floats"])
def test_equals_lane_sum_of_the_product_to_the_bit(kinds, rng):
    """Value and gradients, eagerly: lane_dot(a, b) is lane_sum(a * b) in one node (a float with lanes too)."""
    data = [rng.normal(size=N) if lanes else float(rng.normal()) for lanes in kinds]
    runs = []
    for build in (lambda a, b: ops.lane_dot(a, b), lambda a, b: ops.lane_sum(a * b)):
        a, b = Value(data[0]), Value(data[1])
        out = build(a, b)
        out.backward()
        runs.append((out.data, a.grad, b.grad))
    for got, want in zip(*runs):
        assert np.array_equal(got, want), (got, want)


def test_lanes_of_different_lengths_are_an_error_naming_lane_dot():
    with pytest.raises(ValueError, match="op 'lane_dot' was given inputs of 2 and 3 lanes"):
        ops.lane_dot(Value(np.ones(2)), Value(np.ones(3)))


def test_second_derivatives_match_pytorch(rng, torch):
    """H v through lane_dot's backward on Values (its inputs lanes and a float), against PyTorch's double backward."""
    a0, b0, v0, w0 = rng.normal(size=N), rng.normal(size=N), rng.normal(size=N), float(rng.normal())
    a, b, w = Value(a0), Value(b0), Value(w0)
    ga, gb, gw = gradients(ops.lane_dot(a * a * w, b.tanh()), [a, b, w], create_graph=True)
    directional = ops.lane_dot(ga, Value(v0)) + ops.lane_dot(gb, Value(v0)) + gw * 0.5
    second = gradients(directional, [a, b, w])
    ta, tb, tw = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (a0, b0, w0))
    tga, tgb, tgw = torch.autograd.grad((ta * ta * tw * torch.tanh(tb)).sum(), [ta, tb, tw], create_graph=True)
    tv = torch.tensor(v0)
    want = torch.autograd.grad((tga * tv).sum() + (tgb * tv).sum() + tgw * 0.5, [ta, tb, tw])
    for got, expected in zip(second, want):
        assert mismatch(got, expected.detach().numpy()) is None


def test_a_differentiated_lane_dot_is_differentiable_again():
    """Its backward is written with ops: the gradient of a float input is a node of lanes the engine sums."""
    a, b = Value(2.0), Value(np.array([1.0, 2.0, 3.0]))
    (ga,) = gradients(ops.lane_dot(a * a, b), [a], create_graph=True)  # 2a * sum(b) = 24
    assert ga.data == 24.0
    (gb,) = gradients(ga, [b])  # d(2a sum b)/db = 2a in every lane
    assert np.array_equal(gb, [4.0, 4.0, 4.0])


# -- compiled: one matrix product, equal to eager -------------------------------------------------------------

def _pairs(layout: str, m: int, k: int) -> list:
    """(j, i) pairs of the first position's m rows and the second's k rows, in the order the nodes are made."""
    if layout == "grid":
        return [(j, i) for j in range(m) for i in range(k)]
    if layout == "permutation":
        return [(j, i) for i in range(k) for j in range(m)]
    if layout == "some":
        return [(j, j) for j in range(min(m, k))]
    return [(0, 0), (1, 2), (0, 0), (2, 1)]  # "twice": a pair read by two nodes


@pytest.mark.parametrize("layout", ["grid", "permutation", "some", "twice"])
@pytest.mark.parametrize("poison", [False, True], ids=["finite", "inf-elsewhere"])
def test_compiled_lane_products_equal_eager(layout, poison, rng):
    """A batch of lane_dots runs as `LaneProducts`, and its values and gradients are eager's, call after call."""
    m, k = 3, 4
    p = [Value(float(x)) for x in rng.normal(size=m)]
    q = [Value(float(x)) for x in rng.normal(size=k)]
    c = [Value(float(x)) for x in rng.normal(size=len(_pairs(layout, m, k)))]
    pairs = _pairs(layout, m, k)

    def fn(xs):
        a = [(xs[j] * p[j]).tanh() for j in range(m)]
        b = [xs[m + i] * q[i] for i in range(k)]
        return ops.sum(*[ops.lane_dot(a[j], b[i]) * ck for (j, i), ck in zip(pairs, c)])

    compiled = microgradx.compile(fn)
    params = p + q + c
    for call in range(4):  # the first records; the third and later reuse their arrays (bound kernels)
        X = rng.normal(size=(N, m + k))
        if poison and call % 2:  # b[1]: in "some" and "twice", also in pairs no node multiplies (M's zeros)
            X[:, m + 1] = np.inf
        for v in params:
            v.grad = 0.0
        with np.errstate(all="ignore"):
            got = compiled(X)
            got.backward()
        ours = [v.grad for v in params]
        for v in params:
            v.grad = 0.0
        with np.errstate(all="ignore"):
            want = fn([Value(X[:, col].copy()) for col in range(m + k)])
            want.backward()
        assert mismatch(got.data, want.data) is None, call
        for i, (g, v) in enumerate(zip(ours, params)):
            assert mismatch(g, v.grad) is None, (call, i, g, v.grad)
    plan = next(iter(compiled._recordings.values())).plan
    assert any(isinstance(kernel, LaneProducts) for kernel in plan.kernels)


def test_a_compiled_hessian_vector_product_runs_the_weight_gradients_as_products(rng):
    """The differentiated dot of a lane-mode MLP: lane_dot for the weights' gradients, one product per layer."""
    model = DenseMLP(5, [4, 3, 1], seed=2)
    params = model.parameters()
    direction = [Value(float(x)) for x in rng.normal(size=len(params))]
    for d in direction:
        d.grad = None

    def directional(xs):
        loss = (model(xs)[0] ** 2).lane_mean()
        first = gradients(loss, params, create_graph=True)
        return ops.sum(*[g * d for g, d in zip(first, direction)])

    compiled = microgradx.compile(directional)
    X = rng.normal(size=(17, 5))
    for _ in range(3):
        model.zero_grad()
        compiled(X).backward()
        got = [p.grad for p in params]
        model.zero_grad()
        directional([Value(X[:, j].copy()) for j in range(5)]).backward()
        for g, p in zip(got, params):
            assert mismatch(g, p.grad) is None, p.label
    plan = next(iter(compiled._recordings.values())).plan
    names = [plan.program.ops[members[0] - plan.program.n_leaves].name for members in plan.members]
    products = [kernel for kernel, name in zip(plan.kernels, names) if name == "lane_dot"]
    assert len(products) == 3 and all(isinstance(kernel, LaneProducts) for kernel in products)
    assert "lane_sum" not in names or names.count("lane_sum") <= 3  # only the biases' totals
