"""The fused ops dot, sum and logsumexp: conformance, the lane fast path, stability, PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradx
from microgradx import Value, ops
from microgradx.testing import check_op, gradcheck

N = 7  # lanes


@pytest.mark.parametrize("name", ["dot", "sum", "logsumexp"])
def test_check_op(name):
    assert check_op(name).ok


@pytest.mark.parametrize("name", ["dot", "sum", "logsumexp"])
def test_registered_by_the_fused_plugin(name):
    component = microgradx.get_registry().component("ops", name)
    assert component.plugin.name == "fused" and component.plugin.builtin
    assert component.obj.arity is None  # variadic


def test_dot_bias_iff_odd_number_of_inputs():
    assert ops.dot(2.0).data == 2.0
    assert ops.dot(3.0, 4.0).data == 12.0                        # w*x, no bias
    assert ops.dot(1.0, 3.0, 4.0).data == 13.0                   # b + w*x
    assert ops.dot(2.0, 3.0, 5.0, 7.0).data == 2 * 5 + 3 * 7     # w1*x1 + w2*x2
    assert ops.dot(1.0, 2.0, 3.0, 5.0, 7.0).data == 1 + 2 * 5 + 3 * 7


def test_dot_scalar_mode_is_bit_identical_to_the_fine_grained_graph(rng):
    b, w, x = rng.normal(), rng.normal(size=9).tolist(), rng.normal(size=9).tolist()
    fine = Value(b)
    for wi, xi in zip(w, x):
        fine = fine + Value(wi) * Value(xi)
    assert ops.dot(b, *w, *x).data == fine.data


def _lane_case(rng, k=5):
    b = float(rng.normal())
    w = rng.normal(size=k).tolist()
    xs = [rng.normal(size=N) for _ in range(k)]
    return b, w, xs


def test_dot_lane_fast_path_matches_unfused_and_gradchecks(rng):
    """Float weights and lane inputs (a neuron in lane mode): the stacked matrix path."""
    b, w, xs = _lane_case(rng)
    vb, vw, vx = Value(b), [Value(wi) for wi in w], [Value(x) for x in xs]
    out = ops.dot(vb, *vw, *vx)
    expected = b + sum(wi * x for wi, x in zip(w, xs))
    np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-13)
    ops.lane_sum(out).backward()
    assert vb.grad == pytest.approx(N)
    for x, vwi in zip(xs, vw):
        assert isinstance(vwi.grad, float)
        assert vwi.grad == pytest.approx(x.sum(), rel=1e-12, abs=1e-12)
    for wi, vxi in zip(w, vx):
        np.testing.assert_allclose(vxi.grad, np.full(N, wi), rtol=1e-13)
    gradcheck(lambda b_, *rest: ops.lane_sum(ops.dot(b_, *rest)), [b, *w, *xs])


def test_dot_mixed_floats_and_lanes_falls_back_correctly(rng):
    """A lane weight, or a float among the lane inputs, takes the general path: same answers."""
    b, w, xs = _lane_case(rng, k=3)
    inputs_lane_w = [b, rng.normal(size=N), *w[1:], *xs]
    every_w_lanes = [b, *[rng.normal(size=N) for _ in w], *xs]
    inputs_float_x = [b, *w, xs[0], 0.7, xs[2]]
    first_x_float = [b, *w, 0.7, xs[1], xs[2]]
    for inputs in (inputs_lane_w, every_w_lanes, inputs_float_x, first_x_float):
        gradcheck(lambda *vs: ops.lane_sum(ops.dot(*vs)), inputs)


def test_dot_lanes_of_different_lengths_is_an_error_naming_dot():
    with pytest.raises(ValueError, match="op 'dot'"):
        ops.dot(1.0, 2.0, Value(np.ones(3)), Value(np.ones(4)))


def test_dot_without_bias_in_lane_mode(rng):
    _, w, xs = _lane_case(rng)
    gradcheck(lambda *vs: ops.lane_sum(ops.dot(*vs)), [*w, *xs])


def test_dot_against_pytorch(rng, torch):
    b, w, xs = _lane_case(rng, k=6)
    g = rng.normal(size=N)
    vb, vw, vx = Value(b), [Value(wi) for wi in w], [Value(x) for x in xs]
    out = ops.dot(vb, *vw, *vx)
    out.backward(g)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    tx = torch.tensor(np.stack(xs), dtype=torch.float64, requires_grad=True)
    tout = tb + tw @ tx
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    assert vb.grad == pytest.approx(tb.grad.item(), rel=1e-12)
    np.testing.assert_allclose([v.grad for v in vw], tw.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.stack([v.grad for v in vx]), tx.grad.numpy(), rtol=1e-12)


def test_sum_is_elementwise_and_leaves_inputs_alone(rng):
    xs = [rng.normal(size=N) for _ in range(4)]
    kept = [x.copy() for x in xs]
    vs = [Value(x) for x in xs]
    out = ops.sum(*vs)
    np.testing.assert_allclose(out.data, np.sum(xs, axis=0), rtol=1e-13)
    out.backward(np.ones_like(out.data))
    for v in vs:
        np.testing.assert_array_equal(v.grad, np.ones(N))
    for k, x in zip(kept, xs):
        np.testing.assert_array_equal(k, x)
    assert ops.sum(1.0, 2.0, 3.5).data == 6.5
    one = Value(np.array([1.0, 2.0]))
    assert ops.sum(one).data is not one.data  # a new array, never an alias of the input


def test_logsumexp_matches_the_definition_and_pytorch(rng, torch):
    xs = [rng.normal(size=N) for _ in range(4)]
    vs = [Value(x) for x in xs]
    out = ops.logsumexp(*vs)
    np.testing.assert_allclose(out.data, np.log(np.exp(np.stack(xs)).sum(axis=0)), rtol=1e-13)
    out.backward(np.ones_like(out.data))
    soft = np.exp(np.stack(xs)) / np.exp(np.stack(xs)).sum(axis=0)
    np.testing.assert_allclose(np.stack([v.grad for v in vs]), soft, rtol=1e-12)
    t = torch.tensor(np.stack(xs), dtype=torch.float64)
    np.testing.assert_allclose(out.data, torch.logsumexp(t, dim=0).numpy(), rtol=1e-13)


@pytest.mark.parametrize("big", [1000.0, -1000.0, 1e300])
def test_logsumexp_is_stable_for_huge_inputs(big):
    # scalar mode
    a, b = Value(big), Value(big - 1.0)
    out = ops.logsumexp(a, b)
    out.backward()
    assert out.data == pytest.approx(big + math.log1p(math.exp(-1.0)), rel=1e-15)
    assert math.isfinite(a.grad) and math.isfinite(b.grad)
    assert a.grad + b.grad == pytest.approx(1.0)
    # lane mode, mixed with a float input (what bce does: logsumexp(0, z))
    z = Value(np.array([big, -big, 0.0]))
    out = ops.logsumexp(0.0, z)
    ops.lane_sum(out).backward()
    expected = np.logaddexp(0.0, np.array([big, -big, 0.0]))
    np.testing.assert_allclose(out.data, expected, rtol=1e-15)
    assert np.all(np.isfinite(z.grad))
    sigmoid = 0.5 * (1.0 + np.tanh(np.array([big, -big, 0.0]) / 2.0))  # no overflow
    np.testing.assert_allclose(z.grad, sigmoid, rtol=1e-12, atol=1e-300)


def test_logsumexp_infinite_inputs():
    assert ops.logsumexp(-math.inf, 0.0).data == 0.0
    assert ops.logsumexp(math.inf, 0.0).data == math.inf
    assert ops.logsumexp(-math.inf, -math.inf).data == -math.inf
    lanes = ops.logsumexp(Value(np.array([-np.inf, 0.0])), Value(np.array([-np.inf, 0.0])))
    np.testing.assert_array_equal(lanes.data, [-np.inf, math.log(2.0)])
