"""Neuron, Layer, MLP: lane mode = scalar mode, fused = fine-grained, activations, init, settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradx
from microgradx import Op, UnknownComponentError, Value, hookimpl, ops, topological_order
from microgradx.datasets import load
from microgradx.nn import SGD, Hinge, LinearDecay
from microgradx.nn import DenseLayer as Layer  # the registered layers (micrograd's are Layer, MLP, Neuron)
from microgradx.nn import DenseMLP as MLP
from microgradx.nn import DenseNeuron as Neuron
from microgradx.testing import gradcheck


def _grads(model):
    return np.array([p.grad for p in model.parameters()])


def _lane_run(model, X):
    """Lane mode: one graph over the batch; backward from the lane-sum of every output."""
    model.zero_grad()
    outs = model(X)
    ops.lane_sum(ops.sum(*outs)).backward()
    return np.stack([o.data for o in outs], axis=1), _grads(model)


def _scalar_run(model, X):
    """Scalar mode: one graph per example; gradients summed over the examples."""
    model.zero_grad()
    preds = []
    for row in X.tolist():
        outs = model(row)
        preds.append([o.data for o in outs])
        ops.sum(*outs).backward()
    return np.array(preds), _grads(model)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_lane_mode_equals_scalar_mode(rng, fused, activation):
    X = rng.normal(size=(9, 5))
    model = MLP(5, [6, 4, 3], activation=activation, fused=fused, seed=1)
    lane_pred, lane_grad = _lane_run(model, X)
    scalar_pred, scalar_grad = _scalar_run(model, X)
    assert lane_pred.shape == scalar_pred.shape == (9, 3)
    np.testing.assert_allclose(lane_pred, scalar_pred, rtol=0, atol=1e-10)
    np.testing.assert_allclose(lane_grad, scalar_grad, rtol=0, atol=1e-10)
    assert np.abs(lane_grad).sum() > 0  # the check compared real gradients


def test_lane_mode_equals_scalar_mode_through_a_loss(rng):
    """The same with a loss: mean over lanes == mean of the per-example losses."""
    X, y = rng.normal(size=(8, 3)), (rng.random(8) > 0.5).astype(float)
    model = MLP(3, [5, 1], seed=2)
    loss = Hinge()
    model.zero_grad()
    lane_loss = loss(model(X), y)
    lane_loss.backward()
    lane_grad = _grads(model)
    model.zero_grad()
    total = 0.0
    for row, t in zip(X.tolist(), y):
        one = loss(model(row), np.array([t])) * (1.0 / len(y))
        one.backward()
        total += one.data
    assert lane_loss.data == pytest.approx(total, abs=1e-12)
    np.testing.assert_allclose(lane_grad, _grads(model), atol=1e-10)


def test_fused_and_fine_grained_graphs_agree_and_fused_is_much_smaller(rng):
    X = rng.normal(size=(4, 30))
    fused, fine = MLP(30, [16, 16, 1], seed=3, fused=True), MLP(30, [16, 16, 1], seed=3, fused=False)
    assert fused.get_weights() == fine.get_weights()
    for mode in ("lanes", "scalar"):
        run = _lane_run if mode == "lanes" else _scalar_run
        pf, gf = run(fused, X)
        pu, gu = run(fine, X)
        np.testing.assert_allclose(pf, pu, rtol=0, atol=1e-12)
        np.testing.assert_allclose(gf, gu, rtol=0, atol=1e-12)
    nodes_fused = topological_order(fused(X)[0])
    nodes_fine = topological_order(fine(X)[0])
    ops_fused = sum(v.op is not None for v in nodes_fused)
    ops_fine = sum(v.op is not None for v in nodes_fine)
    assert ops_fused == 33 + 32  # one dot per neuron, one relu per hidden neuron
    assert ops_fine == 2 * (30 * 16 + 16 * 16 + 16) + 32  # a mul and an add per weight
    assert len(nodes_fused) < len(nodes_fine) / 2  # 886 vs 2357 with the 785 parameter leaves
    assert {v.op.name for v in nodes_fused if v.op is not None} == {"dot", "relu"}


def test_lane_mode_neuron_is_one_dot_node_over_lane_arrays(rng):
    neuron = Neuron(4, activation=None, seed=0)
    out = neuron(rng.normal(size=(10, 4)))
    assert out.op.name == "dot" and out.data.shape == (10,)
    assert [p.data.shape for p in out.parents[5:]] == [(10,)] * 4  # the inputs are lane Values
    assert all(isinstance(p.data, float) for p in out.parents[:5])  # bias and weights are floats


def test_mlp_against_pytorch(rng, torch):
    X = rng.normal(size=(11, 4))
    model = MLP(4, [5, 3, 2], activation="tanh", seed=4)
    _, grads = _lane_run(model, X)
    outs = np.stack([o.data for o in model(X)], axis=1)
    layers, tparams = [], []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        layers.append((W, b))
        tparams.append((W, b))
    h = torch.tensor(X)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = torch.tanh(h)
    h.sum().backward()
    np.testing.assert_allclose(outs, h.detach().numpy(), rtol=1e-12, atol=1e-12)
    torch_grads = np.concatenate([np.concatenate([W.grad.numpy(), b.grad.numpy()[:, None]], axis=1).ravel()
                                  for W, b in tparams])
    np.testing.assert_allclose(grads, torch_grads, rtol=1e-10, atol=1e-12)


def test_input_gradients_in_both_modes(rng):
    """Inputs given as Values get gradients (finite differences), one example or lanes."""
    model = MLP(3, [4, 1], activation="tanh", seed=5)
    gradcheck(lambda *xs: model(list(xs))[0], rng.normal(size=3).tolist())
    gradcheck(lambda *xs: ops.lane_sum(model(list(xs))[0]), [rng.normal(size=6) for _ in range(3)])


def test_last_layer_is_linear_by_default_and_hidden_activation_applies(rng):
    X = rng.normal(size=(20, 3))
    model = MLP(3, [4, 2], activation="relu", seed=6)
    # the model's output computed by hand with numpy
    h = X
    for i, layer in enumerate(model.layers):
        W = np.array([[w.data for w in n.w] for n in layer.neurons])
        b = np.array([n.b.data for n in layer.neurons])
        h = h @ W.T + b
        if i == 0:
            h = np.maximum(h, 0.0)
    out = np.stack([o.data for o in model(X)], axis=1)
    np.testing.assert_allclose(out, h, atol=1e-13)
    assert (out < 0).any()  # a relu at the end could not give this
    assert model(X)[0].op.name == "dot"
    capped = MLP(3, [4, 2], activation="relu", last_activation="sigmoid", seed=6)
    np.testing.assert_allclose(np.stack([o.data for o in capped(X)], axis=1), 1 / (1 + np.exp(-h)), atol=1e-13)


class _SoftsignPlugin:
    """A plugin registered at run time: the op softsign(x) = x / (1 + |x|)."""

    op = Op(name="softsign", doc="x / (1 + |x|)",
            forward=lambda x: x / (1.0 + abs(x)),
            backward=lambda g, out, x: (g / (1.0 + abs(x)) ** 2,))

    @hookimpl
    def microgradx_register_ops(self, register):
        register(self.op)


def test_activation_can_be_an_op_registered_at_run_time(rng, fresh_registry):
    X = rng.normal(size=(6, 2))
    with microgradx.plugin_registered(_SoftsignPlugin(), name="softsign-plugin"):
        model = MLP(2, [3, 1], activation="softsign", seed=7)
        hidden = [n(X) for n in model.layers[0].neurons]
        assert {h.op.name for h in hidden} == {"softsign"}
        pre = [n.b.data + sum(w.data * X[:, j] for j, w in enumerate(n.w)) for n in model.layers[0].neurons]
        np.testing.assert_allclose(np.stack([h.data for h in hidden]), np.stack([p / (1 + abs(p)) for p in pre]))
        lane_pred, lane_grad = _lane_run(model, X)
        scalar_pred, scalar_grad = _scalar_run(model, X)
        np.testing.assert_allclose(lane_pred, scalar_pred, atol=1e-10)
        np.testing.assert_allclose(lane_grad, scalar_grad, atol=1e-10)
        gradcheck(lambda *xs: ops.lane_sum(model(list(xs))[0]), [X[:, 0], X[:, 1]])
    with pytest.raises(UnknownComponentError, match="softsign"):
        MLP(2, [3, 1], activation="softsign")


def test_seeded_init_is_reproducible_and_bounded():
    a, b, c = MLP(30, [16, 16, 1], seed=11), MLP(30, [16, 16, 1], seed=11), MLP(30, [16, 16, 1], seed=12)
    assert a.get_weights() == b.get_weights()
    assert a.get_weights() != c.get_weights()
    first = np.array([p.data for p in a.layers[0].parameters()])
    assert np.all(np.abs(first) <= 1 / math.sqrt(30))
    assert first.std() > 0.5 / math.sqrt(30) / math.sqrt(3)  # roughly uniform(-k, k), not all tiny
    gen = MLP(2, [3], seed=np.random.default_rng(5))
    assert gen.get_weights() == MLP(2, [3], seed=np.random.default_rng(5)).get_weights()


def test_parameters_count_repr_zero_grad():
    model = MLP(30, [16, 16, 1])
    assert model.num_parameters() == len(model.parameters()) == 30 * 16 + 16 + 16 * 16 + 16 + 16 + 1 == 785
    assert len({id(p) for p in model.parameters()}) == 785
    assert "MLP(nin=30, nouts=[16, 16, 1]" in repr(model) and "785 parameters" in repr(model)
    assert repr(Layer(3, 2)) == "Layer(nin=3, nout=2, activation='relu', fused=True)"
    assert repr(Neuron(3, activation="tanh")) == "Neuron(nin=3, activation='tanh', fused=True)"
    model(np.ones((2, 30)))[0]
    out = ops.lane_sum(model(np.ones((2, 30)))[0])
    out.backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    assert model.parameters()[0].label == "L0.n0.w0"


def test_architecture_is_fixed_after_construction():
    model = MLP(2, [3, 1])
    with pytest.raises(AttributeError, match=r"MLP\.activation is fixed at construction"):
        model.activation = "tanh"
    with pytest.raises(AttributeError, match=r"Layer\.nout is fixed"):
        model.layers[0].nout = 5
    assert model.activation == "relu" and model.layers[0].nout == 3


def test_neuron_and_layer_take_plain_examples(rng):
    layer = Layer(3, 2, activation="tanh", seed=1)
    outs = layer([0.5, -1.0, 2.0])
    assert len(outs) == 2 and all(isinstance(o.data, float) for o in outs)
    n = layer.neurons[1]
    manual = math.tanh(n.b.data + sum(w.data * x for w, x in zip(n.w, [0.5, -1.0, 2.0])))
    assert outs[1].data == pytest.approx(manual, rel=1e-15)
    assert n([0.5, -1.0, 2.0]).data == outs[1].data
    assert n(np.array([0.5, -1.0, 2.0])).data == outs[1].data
    v = Value(0.5)
    single = Neuron(1, activation="tanh", seed=0)
    out = single([v])
    out.backward()
    assert v.grad == pytest.approx(single.w[0].data * (1.0 - out.data ** 2), rel=1e-14)


def test_spec_round_trip_and_weights():
    model = MLP(4, [3, 2], activation="tanh", last_activation=None, seed=3, fused=False)
    spec = model.spec()
    assert spec == {"layer": "MLP", "nin": 4, "nouts": [3, 2], "activation": "tanh", "last_activation": None,
                    "fused": False}
    clone = microgradx.get_registry().get("layers", "MLP").from_spec(spec)
    assert clone.spec() == spec
    clone.set_weights(model.get_weights())
    X = np.linspace(-1, 1, 8).reshape(2, 4)
    np.testing.assert_array_equal([o.data for o in clone(X)], [o.data for o in model(X)])
    assert Layer.from_spec(Layer(2, 3).spec()).nout == 3
    assert Neuron.from_spec(Neuron(2, activation=None).spec()).activation is None
    with pytest.raises(ValueError, match="unknown key"):
        MLP.from_spec({**spec, "evil": 1})
    with pytest.raises(ValueError, match=r"missing key.*nouts"):
        MLP.from_spec({"layer": "MLP", "nin": 2})
    with pytest.raises(ValueError, match="expected 'MLP'"):
        MLP.from_spec({**spec, "layer": "Layer"})


@pytest.mark.parametrize("bad, err, match", [
    ([0.0] * 3, ValueError, "expected 16 weights"),
    ([0.0] * 15 + [math.nan], ValueError, "weight 15 is nan"),
    ([0.0] * 15 + [math.inf], ValueError, "finite"),
    ([0.0] * 15 + ["1"], TypeError, "weight 15 must be a number"),
    ("0" * 16, TypeError, "list of 16 numbers"),
    (np.zeros((16, 1)), ValueError, "flat list"),
])
def test_set_weights_validates_before_changing_anything(bad, err, match):
    model = MLP(3, [4], seed=0)  # 4 neurons x (3 weights + 1 bias)
    before = model.get_weights()
    with pytest.raises(err, match=match):
        model.set_weights(bad)
    assert model.get_weights() == before
    model.set_weights(np.arange(16.0))
    assert model.get_weights() == list(np.arange(16.0))


@pytest.mark.parametrize("make, err, match", [
    (lambda: MLP(0, [2]), ValueError, "nin must be a positive int.*0"),
    (lambda: MLP(-3, [2]), ValueError, "nin must be a positive int.*-3"),
    (lambda: MLP(2.5, [2]), ValueError, "nin"),
    (lambda: MLP(2, []), ValueError, "nouts .*empty"),
    (lambda: MLP(2, [16, 0, 1]), ValueError, r"nouts\[1\] must be a positive int.*0"),
    (lambda: MLP(2, [16, -1]), ValueError, r"nouts\[1\]"),
    (lambda: MLP(2, "16"), TypeError, "nouts must be a list"),
    (lambda: MLP(2, [1], activation="nope"), UnknownComponentError, "activation='nope'.*registered ops:.*relu.*tanh"),
    (lambda: MLP(2, [1], last_activation="nope"), UnknownComponentError, "last_activation='nope'"),
    (lambda: MLP(2, [1], activation="add"), ValueError, "activation='add'.*unary.*arity 2"),
    (lambda: MLP(2, [1], activation="lane_mean"), ValueError, "lane reduction"),
    (lambda: MLP(2, [1], activation=3), TypeError, "activation must be the name"),
    (lambda: MLP(2, [1], seed=-1), ValueError, "seed must be"),
    (lambda: MLP(2, [1], fused="yes"), TypeError, "fused must be True or False"),
    (lambda: Layer(2, 0), ValueError, "nout must be a positive int"),
    (lambda: Neuron(0), ValueError, "nin must be a positive int"),
])
def test_bad_settings_fail_at_construction(make, err, match):
    with pytest.raises(err, match=match):
        make()


@pytest.mark.parametrize("x, err, match", [
    ([1.0], ValueError, "takes 3 inputs per example, got 1"),
    (np.ones((4, 2)), ValueError, r"takes 3 inputs per example, got a batch of shape \(4, 2\)"),
    (np.ones((0, 3)), ValueError, "no examples"),
    (np.ones((2, 3, 1)), ValueError, "shape"),
    ([[1.0, 2.0, 3.0]], ValueError, "3 inputs per example, got 1"),
    ([[1.0], [2.0], [3.0]], TypeError, "2-D numpy array"),
    ("abc", TypeError, "takes a list of 3 numbers"),
    (np.array([["a", "b", "c"]]), TypeError, "real numbers"),
])
def test_bad_inputs_are_named(x, err, match):
    with pytest.raises(err, match=match):
        MLP(3, [2])(x)


def test_registered_as_layers():
    registry = microgradx.get_registry()
    assert registry.get("layers", "MLP") is MLP
    assert registry.get("layers", "Layer") is Layer
    assert registry.get("layers", "Neuron") is Neuron
    assert registry.component("layers", "MLP").plugin.name == "layers"


def test_pieces_fit_moons_hinge_sgd_full_batch():
    """micrograd's demo assembled from the components: MLP(2, [16, 16, 1]), hinge + L2 1e-4, SGD with
    the linear decay, 100 full-batch steps in lane mode. A wrong gradient anywhere would stall it."""
    data = load("moons", seed=0)
    X, y = data.X_train, data.y_train
    model = MLP(2, [16, 16, 1], seed=0)
    loss_fn, schedule = Hinge(l2=1e-4), LinearDecay()
    opt = SGD(model.parameters(), lr=1.0)
    first = None
    for k in range(100):
        with microgradx.gc_paused():
            loss = loss_fn(model(X), y, model.parameters())
            opt.zero_grad()
            loss.backward()
        first = loss.data if first is None else first
        opt.lr = schedule(1.0, k, 100)
        opt.step()
    accuracy = (loss_fn.predict(model(X)) == y).mean()
    assert accuracy >= 0.95
    assert loss.data < first / 5
