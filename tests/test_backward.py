"""The backward driver: deep graphs, reused nodes, accumulation, lanes, and errors from op backwards."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import microgradx
from microgradx import Op, Value, gc_paused, ops, topological_order, zero_grad
from microgradx.engine import autograd
from microgradx.engine.optable import OPS
from microgradx.engine.value import apply
from microgradx.testing import gradcheck


def test_chain_of_a_million_nodes_with_the_default_recursion_limit():
    n = 1_000_000
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # CPython's default, whatever the test runner set
    try:
        a, c = Value(0.5), Value(1.0000001)
        x = a
        with gc_paused():  # graph building is faster without the cyclic collector (see DESIGN.md)
            for _ in range(n):
                x = x * c
        x.backward()
    finally:
        sys.setrecursionlimit(old_limit)
    # x = a * c**n: every one of the n nodes must have passed its gradient on
    assert x.data == pytest.approx(0.5 * 1.0000001**n, rel=1e-9)
    assert a.grad == pytest.approx(1.0000001**n, rel=1e-9)
    assert c.grad == pytest.approx(n * 0.5 * 1.0000001 ** (n - 1), rel=1e-9)


def test_topological_order_puts_parents_first_and_each_node_once():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = microgradx.topological_order(e)
    assert len(order) == len(set(map(id, order))) == 5
    pos = {id(v): i for i, v in enumerate(order)}
    for v in order:
        for p in v.parents:
            assert pos[id(p)] < pos[id(v)]
    assert order[-1] is e


def test_reused_nodes_get_the_total_gradient():
    a = Value(1.5)
    b = a + a
    c = b * b
    c.backward()
    assert c.data == 9.0
    assert a.grad == 8 * 1.5  # c = 4 a^2
    assert b.grad == 2 * 3.0


def test_reused_nodes_in_lane_mode():
    x = np.array([0.5, -1.0, 2.0])
    a = Value(x)
    b = a + a
    c = b * b
    c.backward(np.ones_like(c.data))
    np.testing.assert_allclose(a.grad, 8 * x)


def test_diamond_graph_matches_finite_differences(rng):
    def f(x, w):
        y1 = x * w
        y2 = y1.tanh()
        return y1 * y2 + y1 / (y2 * y2 + 1.0) + (y1 - y2).sigmoid() * w

    gradcheck(f, [0.7, -1.3])
    gradcheck(f, [rng.uniform(-2, 2, 5), -1.3])


def test_gradients_accumulate_across_backward_calls_on_fresh_graphs():
    a, b = Value(3.0), Value(-2.0)
    (a * b).backward()
    assert (a.grad, b.grad) == (-2.0, 3.0)
    (a * b + a).backward()
    assert (a.grad, b.grad) == (-2.0 + -1.0, 3.0 + 3.0)


def test_backward_twice_on_the_same_graph_doubles_the_leaf_gradients():
    """As in PyTorch (retain_graph=True): each call adds d(root)/d(leaf) once more, no more."""
    a, b = Value(3.0), Value(2.0)
    c = a * b
    d = c * 2.0
    d.backward()
    assert (a.grad, b.grad) == (4.0, 6.0)
    d.backward()
    assert (a.grad, b.grad) == (8.0, 12.0)


def test_two_losses_sharing_a_subgraph_accumulate_their_sum():
    """loss1.backward(); loss2.backward() gives the gradient of loss1 + loss2 (PyTorch's rule)."""
    a = Value(3.0)
    h = a * a
    loss1, loss2 = h * 2.0, h.tanh() * 3.0
    loss1.backward()
    loss2.backward()
    want = 2.0 * 2 * 3.0 + 3.0 * (1 - math.tanh(9.0) ** 2) * 2 * 3.0
    assert a.grad == pytest.approx(want, rel=1e-12)


def test_zero_grad_resets_scalar_and_lane_values():
    w, x = Value(0.5), Value(np.array([1.0, 2.0, 3.0]))
    ops.lane_sum(w * x).backward()
    assert w.grad == 6.0
    np.testing.assert_array_equal(x.grad, [0.5, 0.5, 0.5])
    zero_grad([w, x])
    assert w.grad == 0.0 and type(w.grad) is float
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == (3,) and not x.grad.any()
    ops.lane_sum(w * x).backward()
    assert w.grad == 6.0  # not 12: the reset took


def test_backward_seed_gradient():
    a = Value(2.0)
    (a * a).backward(3.0)
    assert a.grad == 12.0
    x = Value(np.array([1.0, 2.0]))
    (x * x).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 40.0])


def test_a_lane_root_needs_a_seed_or_a_reduction_as_in_pytorch():
    x = Value(np.array([1.0, 2.0, 3.0]))
    w = Value(2.0)
    with pytest.raises(ValueError, match=r"3 lanes needs grad=.*lane_mean\(\).backward\(\) or v.lane_sum\(\)"):
        (x * w).backward()
    assert w.grad == 0.0 and not x.grad.any()  # nothing moved
    (x * w).backward(np.ones(3))  # an explicit seed: w gets the sum over the lanes
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])
    assert w.grad == 6.0
    one = Value(np.array([4.0]))
    (one * w).backward()  # one lane is one number: seeded with 1
    assert one.grad.tolist() == [2.0]


# -- lanes: a scalar graph over a batch --------------------------------------------------------


def _mlp_loss(params, x1, x2, y):
    """A 2-3-1 tanh/sigmoid network and a squared-error loss, written with ops on Values."""
    w1, b1, w2, b2 = params
    hidden = [(w1[j][0] * x1 + w1[j][1] * x2 + b1[j]).tanh() for j in range(3)]
    hidden[2] = hidden[2].relu() + (hidden[2] * hidden[2] + 1.0).log()
    out = (w2[0] * hidden[0] + w2[1] * hidden[1] + w2[2] * hidden[2] + b2).sigmoid()
    return (out - y) ** 2 + out.exp() / (1.0 + b2 * b2)


def _params(rng):
    return ([[Value(rng.normal()) for _ in range(2)] for _ in range(3)], [Value(rng.normal()) for _ in range(3)],
            [Value(rng.normal()) for _ in range(3)], Value(rng.normal()))


def _flat(params):
    w1, b1, w2, b2 = params
    return [v for row in w1 for v in row] + b1 + w2 + [b2]


def test_lane_graph_computes_every_lane_and_sums_parameter_gradients(rng):
    n = 16
    X = rng.normal(size=(n, 2))
    y = (rng.random(n) > 0.5).astype(float)
    params = _params(rng)

    # lane mode: one graph for the whole batch
    x1, x2 = Value(X[:, 0]), Value(X[:, 1])
    loss = _mlp_loss(params, x1, x2, y)
    assert loss.is_lanes and loss.data.shape == (n,)
    total = ops.lane_sum(loss)
    total.backward()
    lane_grads = [p.grad for p in _flat(params)]
    assert all(type(g) is float for g in lane_grads)  # a parameter's gradient is summed over lanes
    zero_grad(_flat(params))

    # scalar mode: one graph per example; gradients accumulate over the backward calls
    per_example, input_grads = [], []
    for i in range(n):
        s1, s2 = Value(float(X[i, 0])), Value(float(X[i, 1]))
        loss_i = _mlp_loss(params, s1, s2, float(y[i]))
        loss_i.backward()
        per_example.append(loss_i.data)
        input_grads.append((s1.grad, s2.grad))
    np.testing.assert_allclose(loss.data, per_example, rtol=1e-12)
    assert total.data == pytest.approx(sum(per_example), rel=1e-12)
    np.testing.assert_allclose(lane_grads, [p.grad for p in _flat(params)], rtol=1e-10)
    np.testing.assert_allclose(np.stack([x1.grad, x2.grad], axis=1), input_grads, rtol=1e-10)


def test_lane_mean_gives_the_mean_of_per_example_gradients(rng):
    x = rng.uniform(-1, 1, 8)
    w = Value(0.3)
    ops.lane_mean((w * Value(x)).tanh()).backward()
    want = np.mean(x * (1 - np.tanh(0.3 * x) ** 2))
    assert w.grad == pytest.approx(want, rel=1e-12)


def test_lane_graph_gradients_match_finite_differences(rng):
    X = rng.normal(size=(5, 2))
    params = _params(rng)
    flat = _flat(params)

    def f(x1, x2, *ps):
        it = iter(ps)
        rebuilt = ([[next(it), next(it)] for _ in range(3)], [next(it) for _ in range(3)],
                   [next(it) for _ in range(3)], next(it))
        return _mlp_loss(rebuilt, x1, x2, np.array([0.0, 1.0, 1.0, 0.0, 1.0]))

    gradcheck(f, [X[:, 0], X[:, 1], *[p.data for p in flat]])


# -- errors raised by an op's backward ----------------------------------------------------------


def _bad_arity_op():
    return Op(name="two_grads", forward=lambda x: 2 * x, backward=lambda g, out, x: (2 * g, g))


def test_backward_returning_the_wrong_number_of_gradients_names_the_op():
    out = apply(_bad_arity_op(), Value(1.0))
    with pytest.raises(ValueError, match=r"two_grads.*returned a tuple of 2 for 1 input"):
        out.backward()


def test_backward_error_names_the_registered_plugin(fresh_registry):
    class Plugin:
        @microgradx.hookimpl
        def microgradx_register_ops(self, register):
            register(_bad_arity_op())

    with microgradx.plugin_registered(Plugin(), name="arity-bug-plugin"):
        out = Value(np.array([1.0, 2.0])).two_grads()
        with pytest.raises(ValueError, match=r"two_grads.*arity-bug-plugin"):
            ops.lane_sum(out).backward()


def test_backward_raising_names_the_op():
    def broken(g, out, x):
        raise KeyError("oops")

    out = apply(Op(name="broken_backward", forward=lambda x: x, backward=broken), Value(1.0))
    with pytest.raises(RuntimeError, match=r"broken_backward.*KeyError"):
        out.backward()


def test_topological_order_lists_every_node_but_backward_visits_only_op_outputs(monkeypatch) -> None:
    """The drawing/user order includes leaves; the driver steps through op outputs only."""
    from microgradx.engine import autograd

    a, b = Value(1.5, label="a"), Value(-0.5, label="b")
    out = ((a * b).tanh() + a) * 2.0
    order = topological_order(out)
    leaves = [v for v in order if v.op is None]
    assert {id(a), id(b)} <= {id(v) for v in leaves}
    assert order[-1] is out
    assert all(order.index(p) < order.index(v) for v in order for p in v.parents)

    visited = []
    plain = autograd.visit_node

    def recording(v):
        visited.append(v)
        plain(v)

    monkeypatch.setattr(autograd, "visit_node", recording)
    out.backward()
    assert visited and all(v.op is not None for v in visited)
    assert len(visited) == len(order) - len(leaves)
    assert visited == [v for v in reversed(order) if v.op is not None]  # each op output once, users first
    assert a.grad == pytest.approx(2.0 * (b.data * (1 - math.tanh(a.data * b.data) ** 2) + 1.0))


@pytest.mark.parametrize("data", [pytest.param(2.0, id="float"), pytest.param(np.array([1.0, -2.0]), id="lanes")])
@pytest.mark.parametrize("anomaly", [pytest.param(False, id="plain"), pytest.param(True, id="anomaly")])
def test_a_value_whose_grad_is_none_takes_no_gradient_float_or_lanes(data, anomaly):
    """Regression: grad None marked "takes no gradient" for lanes only; a float gradient raised a bare TypeError."""
    x, w = Value(data), Value(3.0)
    x.grad = None
    with microgradx.detect_anomaly() if anomaly else gc_paused():
        (w * x * x).lane_sum().backward()
    assert x.grad is None
    assert w.grad == pytest.approx(float(np.sum(np.asarray(data) ** 2)))


# -- the visiting hook: one per backward() call (issue 24) ---------------------------------------


@pytest.mark.parametrize("anomaly", [pytest.param(False, id="plain"), pytest.param(True, id="anomaly")])
def test_backward_runs_the_visiting_step_it_is_given_for_each_node(anomaly):
    """``backward(visit=step)`` runs ``step`` for each op output, users first; a step that computes the node's
    gradients once (``local_gradients``) and hands them to the default step adds exactly what backward() adds,
    and anomaly mode's checks still run under it."""
    a, b = Value(1.5, label="a"), Value(-0.5, label="b")
    out = ((a * b).tanh() + a) * 2.0
    seen, calls = [], []
    backward_of = autograd.local_gradients

    def counting(v):
        calls.append(v)
        return backward_of(v)

    def watching(v):
        grads = counting(v)
        seen.append((v, grads))
        (OPS.visit or autograd.visit_node)(v, grads)

    with microgradx.detect_anomaly() if anomaly else gc_paused():
        autograd.backward(out, visit=watching)
        assert (OPS.visit is not None) == anomaly  # the process-wide slot is left as it was
    order = topological_order(out)
    assert [v for v, _ in seen] == [v for v in reversed(order) if v.op is not None]
    assert len(calls) == len(seen)  # each op's backward once per node
    got = (a.grad, b.grad)
    a.grad = b.grad = 0.0
    out.backward()
    assert got == (a.grad, b.grad)  # the very numbers the plain pass gives
    assert seen[-1][1] == (pytest.approx(2.0 * (1 - math.tanh(-0.75) ** 2) * b.data), pytest.approx(
        2.0 * (1 - math.tanh(-0.75) ** 2) * a.data))  # the mul's grads, as its backward gave them


def test_anomaly_mode_checks_a_watched_pass():
    """A watching step calls the default step, so anomaly mode's checks run under it and name the op."""
    x, w = Value(2.0, label="x"), Value(1e300, label="w")
    y = (x * w) + x  # forward is finite (2e300); the mul's gradient for x, 1e300 * 1e300, is not
    watched = []

    def watching(v):
        watched.append(v.op.name)
        (OPS.visit or autograd.visit_node)(v)

    with microgradx.detect_anomaly(), pytest.raises(FloatingPointError, match="op 'mul'"):
        autograd.backward(y, grad=1e300, visit=watching)
    assert watched == ["add", "mul"]  # the watcher saw both steps; the checking step under it raised


def test_create_graph_adds_no_node_for_a_gradient_that_starts_at_zero():
    """The graph of x.grad for x**3 is the seed times pow's derivative, (1 * 3) * x**2: no 0 + ... nodes.

    Each would be a node of every gradient graph (one per parameter), replayed by compiled steps for nothing.
    """
    x = Value(3.0)
    y = x ** 3
    y.backward(create_graph=True)
    assert [v._op for v in topological_order(x.grad) if v.op is not None] == ["**2.0", "*", "*"]
    assert x.grad.data == 27.0 and y.grad.data == 1.0
    g = x.grad
    x.grad = 0.0
    g.backward()
    assert x.grad == 18.0  # 6x
    w = Value(2.0)
    w.grad = 1.5  # a leaf that holds a gradient adds the new one to it
    (w * w).backward(create_graph=True)
    assert w.grad._op == "+" and w.grad.data == 1.5 + 4.0


def test_a_parameter_in_a_store_refuses_a_gradient_graph_rather_than_dropping_it():
    """The store's array holds numbers: a Value there would keep its number and silently lose its graph."""
    from microgradx import Parameter, ParameterStore, gradients

    w = Parameter(3.0, label="w")
    with ParameterStore([w]):
        with pytest.raises(TypeError, match=r"label='w'.*held by a ParameterStore.*cannot take a gradient graph"):
            (w ** 3).backward(create_graph=True)
        with pytest.raises(TypeError, match="held by a ParameterStore"):
            gradients(w ** 3, [w], create_graph=True)
        (w ** 3).backward()  # numbers are fine
        assert w.grad == 27.0
    (g,) = gradients(w ** 3, [w], create_graph=True)  # outside the block: a graph
    assert isinstance(g, Value) and gradients(g, [w]) == [18.0]
