"""The speed paths give the numbers of the general paths: layers, constant inputs, graph-free outputs.

* `Layer.forward` computes its ``dot`` nodes together (one matrix product in lane mode, the
  same sums in scalar mode); the graph and the numbers are those of each `Neuron.forward`.
* A model's own input Values (made from a 2-D batch) are constants: ``dot`` uses their matrix
  directly and gives them no gradient; every other gradient is unchanged.
* `MLP.output_arrays` (used by the Trainer for predictions and metrics) builds no graph and
  gives exactly the numbers of ``model(X)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from microgradx_plugins import fused

import microgradx
from microgradx import Op, Value, hookimpl, ops, topological_order
from microgradx.engine import value as value_module
from microgradx.nn import MLP, Hinge, Layer
from microgradx.testing import gradcheck
from microgradx.train import Trainer, model_outputs


def _leaf_grads(root) -> np.ndarray:
    """Every float leaf's gradient below ``root`` (the parameters), in graph order."""
    return np.array([v.grad for v in topological_order(root) if v.op is None and not v.is_lanes])


def _general_forward(layer: Layer, xs: list) -> list:
    """The per-neuron path the layer's fast path must reproduce."""
    return [n.forward(xs) for n in layer.neurons]


def _graph_shape(outs: list) -> list:
    """The graph below ``outs`` as (op name, number of parents) per node: the picture, without the numbers."""
    root = ops.sum(*outs) if len(outs) > 1 else outs[0]
    return [(v.op.name if v.op else None, len(v.parents)) for v in topological_order(root)]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", None])
def test_layer_lane_fast_path_equals_the_neurons(rng, activation):
    layer = Layer(5, 4, activation=activation, seed=3)
    X = rng.normal(size=(9, 5))
    xs = [Value(X[:, j]) for j in range(5)]  # user Values: they take gradients
    fast, slow = layer.forward(xs), _general_forward(layer, xs)
    assert _graph_shape(fast) == _graph_shape(slow)
    for f, s in zip(fast, slow):
        assert f.op is s.op
        np.testing.assert_allclose(f.data, s.data, rtol=0, atol=1e-12)
    grads = []
    for outs in (fast, slow):
        for p in [*layer.parameters(), *xs]:
            p.grad = 0.0
        ops.lane_sum(ops.sum(*outs)).backward()
        grads.append(([p.grad for p in layer.parameters()], [x.grad for x in xs]))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.stack(grads[0][1]), np.stack(grads[1][1]), rtol=0, atol=1e-12)
    assert np.abs(grads[0][0]).sum() > 0


def test_layer_scalar_fast_path_is_bit_identical(rng):
    layer = Layer(6, 3, activation="tanh", seed=4)
    xs = [Value(x) for x in rng.normal(size=6).tolist()]
    fast, slow = layer.forward(xs), _general_forward(layer, xs)
    assert [o.data for o in fast] == [o.data for o in slow]
    assert _graph_shape(fast) == _graph_shape(slow)


class _SoftsignPlugin:
    op = Op(name="softsign", doc="x / (1 + |x|)", forward=lambda x: x / (1.0 + abs(x)),
            backward=lambda g, out, x: (g / (1.0 + abs(x)) ** 2,))

    @hookimpl
    def microgradx_register_ops(self, register):
        register(self.op)


def test_layer_fast_path_applies_a_plugin_activation_row_by_row(rng, fresh_registry):
    """A third-party activation is only ever called on 1-D lanes, as its op contract says."""
    seen = []

    class Recording(_SoftsignPlugin):
        op = Op(name="softsign", doc="x / (1 + |x|)",
                forward=lambda x: seen.append(np.ndim(x)) or x / (1.0 + abs(x)),
                backward=_SoftsignPlugin.op.backward)

    with microgradx.plugin_registered(Recording(), name="softsign-plugin"):
        layer = Layer(3, 4, activation="softsign", seed=1)
        X = rng.normal(size=(7, 3))
        outs = layer(X)
        assert seen == [1] * 4
        pre = np.stack([n.b.data + sum(w.data * X[:, j] for j, w in enumerate(n.w)) for n in layer.neurons])
        np.testing.assert_allclose(np.stack([o.data for o in outs]), pre / (1 + abs(pre)), atol=1e-13)


def test_layer_with_a_replaced_dot_takes_each_neurons_path(rng):
    layer = Layer(3, 2, seed=0)
    calls = []
    own = Op(name="dot", arity=None, forward=lambda *a: calls.append(1) or fused.dot.forward(*a),
             backward=fused.dot.backward)
    for n in layer.neurons:
        n._dot = own
    layer(rng.normal(size=(4, 3)))
    assert calls == [1, 1]


def test_model_inputs_take_no_gradient_and_the_rest_is_unchanged(rng):
    """MLP(X) on a 2-D batch: its input Values are constants. Compared with the same model called on
    user Values (which do take gradients), every parameter gradient is the same."""
    X, y = rng.normal(size=(12, 4)), (rng.random(12) > 0.5).astype(float)
    model = MLP(4, [5, 3, 1], seed=2)
    loss = Hinge()(model(X), y)
    loss.backward()
    inputs = [v for v in topological_order(loss) if v.op is None and v.is_lanes and fused.is_constant(v.data)]
    assert len(inputs) == 4
    assert all(isinstance(v.grad, float) and v.grad == 0.0 for v in inputs)
    ours = _leaf_grads(loss)

    model.zero_grad()
    xs = [Value(X[:, j]) for j in range(4)]
    loss2 = Hinge()(model(xs), y)
    loss2.backward()
    np.testing.assert_allclose(_leaf_grads(loss2), ours, rtol=0, atol=1e-13)
    assert loss2.data == pytest.approx(loss.data, abs=1e-15)
    assert all(np.abs(x.grad).sum() > 0 for x in xs)  # user Values get their gradients
    gradcheck(lambda *cols: Hinge()(model(list(cols)), y), [X[:, j] for j in range(4)])


def test_constant_rows_in_any_dot_take_no_gradient(rng):
    """Whether dot meets the constant rows as one block, a few of them, or after its cache forgot them."""
    X = rng.normal(size=(6, 3))
    consts = [value_module._node(r, (), None) for r in fused.constant_rows(X)]
    other = Value(rng.normal(size=6))
    w = [Value(v) for v in rng.normal(size=4).tolist()]
    for clear in (False, True):
        for v in (*consts, other, *w):
            v.grad = 0.0
        out = ops.dot(0.5, *w, consts[2], other, consts[0], consts[1])
        if clear:
            fused.clear_cache()
        ops.lane_sum(out).backward()
        assert [c.grad for c in consts] == [0.0, 0.0, 0.0]
        np.testing.assert_allclose(other.grad, np.full(6, w[1].data), rtol=1e-15)
        expected = [X[:, 2].sum(), other.data.sum(), X[:, 0].sum(), X[:, 1].sum()]
        np.testing.assert_allclose([p.grad for p in w], expected, rtol=1e-12)


def test_constant_rows_are_a_read_only_copy(rng):
    X = rng.normal(size=(5, 2))
    rows = fused.constant_rows(X)
    X[0, 0] = 99.0
    assert rows[0][0] != 99.0 and rows[0].base is rows[1].base
    with pytest.raises(ValueError, match="read-only"):
        rows[0][1] = 1.0


def test_mlp_with_fused_false_still_gives_its_inputs_gradients_through_mul(rng):
    """The fine-grained graph (mul and add) is not changed: its numbers equal the fused model's."""
    X = rng.normal(size=(5, 3))
    a, b = MLP(3, [4, 1], seed=9, fused=True), MLP(3, [4, 1], seed=9, fused=False)
    for m in (a, b):
        ops.lane_sum(m(X)[0]).backward()
    np.testing.assert_allclose([p.grad for p in a.parameters()], [p.grad for p in b.parameters()], atol=1e-12)


@pytest.mark.parametrize("activation, last", [("relu", None), ("tanh", "sigmoid")])
def test_output_arrays_are_the_numbers_of_the_graph(rng, activation, last):
    model = MLP(4, [6, 5, 2], activation=activation, last_activation=last, seed=5)
    X = rng.normal(size=(10, 4))
    arrays = model.output_arrays(X)
    assert len(arrays) == 2
    for a, o in zip(arrays, model(X)):
        assert np.array_equal(a, o.data)


def test_output_arrays_builds_no_graph_and_checks_its_input(rng, monkeypatch):
    model = MLP(3, [4, 1], seed=1)
    made = []
    plain = value_module._node
    monkeypatch.setattr(value_module, "_node", lambda *a: made.append(1) or plain(*a))
    model.output_arrays(rng.normal(size=(5, 3)))
    assert made == []
    with pytest.raises(ValueError, match="takes 3 inputs per example"):
        model.output_arrays(np.zeros((2, 4)))
    with pytest.raises(TypeError, match="2-D numpy array"):
        model.output_arrays([1.0, 2.0, 3.0])
    assert MLP(3, [2], fused=False).output_arrays(np.zeros((2, 3))) is None


def test_trainer_metrics_use_the_graph_free_outputs_in_both_modes(rng):
    X = rng.normal(size=(7, 3))
    model = MLP(3, [4, 1], seed=1)
    expected = [o.data for o in model(X)]
    for mode in ("lanes", "scalar"):
        outs = model_outputs(model, X, mode)
        assert [np.array_equal(o.data, e) for o, e in zip(outs, expected)] == [True]
    fine = MLP(3, [4, 1], seed=1, fused=False)  # no output_arrays path: graphs, as before
    for mode in ("lanes", "scalar"):
        np.testing.assert_allclose(model_outputs(fine, X, mode)[0].data, expected[0], atol=1e-12)


def test_scalar_mode_trainer_step_matches_lane_mode_to_1e12():
    """One full-batch step from the same weights: the same loss, gradients and weights in both modes."""
    results = []
    for mode in ("lanes", "scalar"):
        t = Trainer(dataset="moons", dataset_options={"n_samples": 60}, loss="bce", optimizer="sgd",
                    optimizer_options={"momentum": 0.0}, lr=0.1, schedule=None, batch_size=None, mode=mode,
                    epochs=1, seed=3, hidden=(6,))
        loss = t.train_step(t.dataset.X_train, t.dataset.y_train)
        results.append((loss, [p.grad for p in t.params], t.model.get_weights()))
    (l1, g1, w1), (l2, g2, w2) = results
    assert l1 == pytest.approx(l2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w1, w2, rtol=1e-12, atol=1e-12)
    assert np.abs(g1).sum() > 0


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e300])
def test_two_input_logsumexp_equals_the_general_path(rng, scale):
    """bce's logsumexp(0, z) and any two-lane logsumexp take numpy's logaddexp; a third input of -inf
    (which changes nothing) sends the same numbers through the general n-input path."""
    a, b = rng.normal(size=9) * scale, rng.normal(size=9) * scale
    for inputs in ((a, b), (0.0, b), (a, 0.0)):
        two = [Value(x) for x in inputs]
        three = [Value(x) for x in inputs] + [Value(np.full(9, -np.inf))]
        g = rng.normal(size=9)
        out2, out3 = ops.logsumexp(*two), ops.logsumexp(*three)
        # to 1e-12 of the inputs' scale: where log(1 + e**-23) ~ 1e-10, the general path's log(1 + tiny)
        # is only good to an ulp of 1 (1e-16), while logaddexp keeps every digit
        np.testing.assert_allclose(out2.data, out3.data, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(b).max()))
        out2.backward(g)
        out3.backward(g)
        for v2, v3 in zip(two, three):
            np.testing.assert_allclose(v2.grad, v3.grad, rtol=1e-12, atol=1e-300)
        assert np.array_equal(three[2].grad, np.zeros(9))
