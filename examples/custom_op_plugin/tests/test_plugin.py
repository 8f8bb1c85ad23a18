"""Tests of the example plugin, written as a plugin author would (test_contracts.py checks each
component against microgradx's contracts with the fixtures that come with microgradx)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import microgradx
import numpy as np
import pytest
from microgradx import Value, get_registry, ops

from microgradx_softplus import (
    GradNorm,
    Huber,
    HuberRegression,
    ResidualMLP,
    RMSprop,
    __version__,
    load_quadrants,
    make_leaky_relu,
)
from microgradx_softplus.plugin import LEAKY_SLOPE

# -- discovery ------------------------------------------------------------------------------


def test_microgradx_finds_the_plugin_through_its_entry_point():
    info = next((p for p in get_registry().plugins if p.name == "microgradx_softplus"), None)
    assert info is not None, "the entry point microgradx_softplus was not discovered"
    assert info.error is None
    assert info.distribution == "microgradx-softplus"
    assert info.version == __version__
    registered = {(c.kind, c.name) for c in info.components}
    assert registered == {("ops", "softplus"), ("ops", "leaky_relu"), ("ops", "huber"), ("losses", "huber"),
                          ("losses", "huber_regression"), ("optimizers", "rmsprop"), ("callbacks", "grad_norm"),
                          ("layers", "ResidualMLP"), ("datasets", "quadrants")}
    assert get_registry().get("optimizers", "rmsprop") is RMSprop


# -- ops ------------------------------------------------------------------------------------


def test_softplus_is_stable_for_large_inputs():
    x = Value(np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 709.0, 1000.0]))
    y = x.softplus()
    y.lane_sum().backward()
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    assert y.data[0] == 0.0 and y.data[-1] == 1000.0 and y.data[3] == math.log(2.0)
    assert y.data[2] == pytest.approx(math.exp(-40.0), rel=1e-12)  # log1p keeps the tiny tail
    assert y.data[4] == pytest.approx(40.0 + math.exp(-40.0), rel=1e-15)
    assert list(x.grad[[0, 3, 6]]) == [0.0, 0.5, 1.0]
    assert x.grad[2] == pytest.approx(math.exp(-40.0), rel=1e-9)


def test_softplus_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional: pip install torch)")
    xs = np.array([-800.0, -20.0, -1.5, -1e-3, 0.0, 0.7, 15.0, 35.0, 800.0])
    v = Value(xs)
    v.softplus().lane_sum().backward()
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    ref = torch.logaddexp(torch.zeros_like(t), t)
    ref.sum().backward()
    np.testing.assert_allclose(Value(xs).softplus().data, ref.detach().numpy(), rtol=1e-14, atol=0)
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12, atol=1e-300)


def test_leaky_relu_uses_the_slope_chosen_at_registration(gradcheck):
    assert LEAKY_SLOPE == 0.01
    assert Value(-2.0).leaky_relu().data == pytest.approx(-0.02)
    assert Value(3.0).leaky_relu().data == 3.0
    x = Value(np.array([-4.0, -0.5, 0.5, 4.0]))
    x.leaky_relu().lane_sum().backward()
    assert list(x.grad) == [0.01, 0.01, 1.0, 1.0]
    assert gradcheck(lambda v: v.leaky_relu() * v, [np.array([-1.5, -0.2, 0.3, 2.0])]).ok


def test_leaky_relu_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional: pip install torch)")
    xs = np.array([-3.0, -0.25, 0.0, 0.25, 3.0])
    v = Value(xs)
    y = v.leaky_relu()
    y.lane_sum().backward()
    t = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.leaky_relu(t, negative_slope=LEAKY_SLOPE)
    ref.sum().backward()
    np.testing.assert_array_equal(y.data, ref.detach().numpy())
    np.testing.assert_array_equal(v.grad, t.grad.numpy())


def test_another_slope_registers_under_another_name(check_op):
    steep = make_leaky_relu(0.2, name="leaky_relu_02")

    class Extra:
        @microgradx.hookimpl
        def microgradx_register_ops(self, register):
            register(steep)

    with microgradx.plugin_registered(Extra(), name="extra-slope"):
        assert Value(-1.0).leaky_relu_02().data == pytest.approx(-0.2)
        assert Value(-1.0).leaky_relu().data == pytest.approx(-0.01)  # the registered one is unchanged
        assert check_op("leaky_relu_02").ok
    with pytest.raises(AttributeError, match="leaky_relu_02"):
        Value(-1.0).leaky_relu_02()


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), "0.1", None, True])
def test_leaky_relu_slope_is_validated(slope):
    with pytest.raises(ValueError, match=r"slope must be a finite number, got"):
        make_leaky_relu(slope)


def _second_derivatives(fn, xs):
    """(first derivatives, [d/dx_j of each first derivative's lanes added up]) by backward(create_graph=True)."""
    vs = [Value(x) for x in xs]
    firsts = microgradx.gradients(fn(*vs).lane_sum(), vs, create_graph=True)
    seconds = [microgradx.gradients(g.lane_sum() if g.is_lanes else g, vs) for g in firsts]
    return [g.data for g in firsts], seconds


def test_second_derivatives_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional: pip install torch)")
    F = torch.nn.functional
    r = np.array([-40.0, -2.5, -1.3, -0.4, 0.0, 0.3, 1.7, 35.0])  # (softplus far out; |r| == delta; 0)
    cases = [  # ours, PyTorch's, the inputs
        (lambda x: x.softplus(), lambda x: torch.logaddexp(torch.zeros_like(x), x), [r]),
        (lambda x: x.leaky_relu(), lambda x: F.leaky_relu(x, negative_slope=LEAKY_SLOPE), [r]),
        (lambda x, d: ops.huber(x, d),  # (PyTorch's huber_loss takes delta as a number: its definition here)
         lambda x, d: torch.where(x.abs() <= d, 0.5 * x * x, d * (x.abs() - 0.5 * d)), [r, 1.3]),
    ]
    for ours, theirs, xs in cases:
        firsts, seconds = _second_derivatives(ours, xs)
        ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        want = torch.autograd.grad(theirs(*ts).sum(), ts, create_graph=True)
        for got, w in zip(firsts, want, strict=True):
            np.testing.assert_allclose(got, w.detach().numpy(), rtol=1e-12, atol=1e-300)
        for row, w in zip(seconds, want, strict=True):
            want_row = torch.autograd.grad(w.sum(), ts, retain_graph=True, allow_unused=True, materialize_grads=True)
            for got, ww in zip(row, want_row, strict=True):  # (sigmoid's out * (1 - out): 1 - out is >= 1e-16)
                np.testing.assert_allclose(got, ww.numpy(force=True), rtol=1e-12, atol=1e-16)


def test_huber_op_rejects_a_non_positive_delta():
    with pytest.raises(ValueError, match=r"op 'huber': delta must be positive, got -1.0"):
        ops.huber(Value(0.5), -1.0)


# -- losses ---------------------------------------------------------------------------------


def _huber_ref(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def test_huber_regression_value_and_gradient(gradcheck):
    rng = np.random.default_rng(0)
    preds, targets = rng.normal(size=6) * 2, rng.normal(size=6)
    loss = HuberRegression(delta=0.7)
    out = Value(preds)
    value = loss([out], targets)
    value.backward()
    assert value.data == pytest.approx(_huber_ref(preds - targets, 0.7).mean(), rel=1e-12)
    np.testing.assert_allclose(out.grad, np.clip(preds - targets, -0.7, 0.7) / 6, rtol=1e-12)
    assert gradcheck(lambda o: loss([o], targets), [preds]).ok


def test_huber_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional: pip install torch)")
    rng = np.random.default_rng(1)
    preds, targets = rng.normal(size=8) * 3, rng.normal(size=8)
    out = Value(preds)
    HuberRegression(delta=1.3)([out], targets).backward()
    t = torch.tensor(preds, requires_grad=True)
    ref = torch.nn.functional.huber_loss(t, torch.tensor(targets), delta=1.3)
    ref.backward()
    assert HuberRegression(delta=1.3)([Value(preds)], targets).data == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(out.grad, t.grad.numpy(), rtol=1e-12)


def test_huber_binary_maps_labels_and_predicts_the_sign():
    outputs = np.array([2.0, -0.5, 0.3, -3.0])
    labels = np.array([1, 0, 0, 1])
    value = Huber()([Value(outputs)], labels)
    assert value.data == pytest.approx(_huber_ref(outputs - (2 * labels - 1), 1.0).mean())
    assert list(Huber().predict([Value(outputs)])) == [1, 0, 1, 0]
    assert Huber.task == "binary" and HuberRegression.task == "regression"
    with pytest.raises(ValueError, match=r"labels must be 0 or 1, got 2\.0"):
        Huber()([Value(outputs)], np.array([1, 0, 2, 1]))


def test_huber_scalar_mode_agrees_with_lane_mode_and_l2_is_added():
    w = [Value(0.5), Value(-1.5)]
    xs, ys = np.array([0.2, -1.0, 3.0]), np.array([1.0, 0.0, 1.0])
    loss = Huber(delta=0.5, l2=0.01)
    lane = loss([w[0] * xs + w[1]], ys, params=w)
    scalar = [Huber(delta=0.5)([w[0] * x + w[1]], y) for x, y in zip(xs, ys, strict=True)]
    penalty = 0.01 * (0.5**2 + 1.5**2)
    assert lane.data == pytest.approx(np.mean([s.data for s in scalar]) + penalty, rel=1e-12)


def test_huber_several_outputs_take_one_target_column_each():
    a, b = Value(np.array([0.0, 2.0])), Value(np.array([1.0, -1.0]))
    targets = np.array([[0.5, 1.0], [0.0, 0.0]])
    got = HuberRegression()([a, b], targets).data
    want = np.mean([_huber_ref(np.array([-0.5, 2.0]), 1.0).mean(), _huber_ref(np.array([0.0, -1.0]), 1.0).mean()])
    assert got == pytest.approx(want)
    with pytest.raises(ValueError, match=r"need targets of shape \(2,\) or \(2, 2\), got shape \(3,\)"):
        HuberRegression()([a, b], np.zeros(3))


@pytest.mark.parametrize("settings, message", [
    ({"delta": 0.0}, r"Huber: delta must be a finite number in \(0, inf\), got 0.0"),
    ({"delta": float("nan")}, r"delta must be a finite number"),
    ({"l2": -1e-3}, r"Huber: l2 must be a finite number in \[0, inf\), got -0.001"),
])
def test_huber_settings_are_validated(settings, message):
    with pytest.raises(ValueError, match=message):
        Huber(**settings)


# -- optimizer ------------------------------------------------------------------------------


def test_rmsprop_first_step_by_hand():
    p = Value(1.0)
    p.grad = 0.5
    opt = RMSprop([p], lr=0.1, alpha=0.9, eps=1e-8)
    opt.step()
    v = 0.1 * 0.25  # (1 - alpha) * g**2
    assert p.data == pytest.approx(1.0 - 0.1 * 0.5 / (math.sqrt(v) + 1e-8), rel=1e-12)
    opt.zero_grad()
    assert p.grad == 0.0


@pytest.mark.parametrize("settings", [
    {"lr": 0.01},
    {"lr": 0.05, "alpha": 0.9, "momentum": 0.5},
    {"lr": 0.02, "weight_decay": 0.1, "centered": True},
])
def test_rmsprop_matches_pytorch_step_for_step(settings):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional: pip install torch)")
    start = np.array([0.5, -1.0, 2.0])
    params = [Value(float(x)) for x in start]
    t = torch.tensor(start, requires_grad=True)
    ours, theirs = RMSprop(params, **settings), torch.optim.RMSprop([t], **settings)

    def f(x0, x1, x2):  # any smooth function of the three parameters
        return (x0 * x1 - 1.0) ** 2 + (x2 * x2 - x0) ** 2 + 0.1 * x1 ** 4

    for _ in range(5):
        ours.zero_grad()
        f(*params).backward()
        ours.step()
        theirs.zero_grad()
        f(t[0], t[1], t[2]).backward()
        theirs.step()
    np.testing.assert_allclose([p.data for p in params], t.detach().numpy(), rtol=1e-10)


def test_rmsprop_minimises_a_quadratic():
    p = [Value(3.0), Value(-2.0)]
    opt = RMSprop(p, lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        ((p[0] - 1.0) ** 2 + (p[1] + 0.5) ** 2).backward()
        opt.step()
    assert p[0].data == pytest.approx(1.0, abs=0.05) and p[1].data == pytest.approx(-0.5, abs=0.05)


@pytest.mark.parametrize("settings, message", [
    ({"lr": -0.1}, r"RMSprop: lr must be a finite number in \[0, inf\), got -0.1"),
    ({"alpha": 1.0}, r"RMSprop: alpha must be a finite number in \[0, 1\), got 1.0"),
    ({"eps": 0}, r"RMSprop: eps must be"),
    ({"momentum": -0.5}, r"RMSprop: momentum must be"),
])
def test_rmsprop_settings_are_validated(settings, message):
    with pytest.raises(ValueError, match=message):
        RMSprop([Value(1.0)], **settings)


def test_rmsprop_lr_is_validated_when_a_schedule_sets_it():
    opt = RMSprop([Value(1.0)], lr=0.1)
    opt.lr = 0.05
    assert opt.lr == 0.05
    opt.lr = 0.0  # where a cosine schedule ends
    p = opt.params[0]
    p.grad = 1.0
    opt.step()
    assert p.data == 1.0
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = float("nan")


def test_rmsprop_rejects_a_lane_parameter_and_no_parameters():
    with pytest.raises(TypeError, match=r"params\[1\] must be a Value holding a float"):
        RMSprop([Value(1.0), Value(np.ones(3))])
    with pytest.raises(ValueError, match="RMSprop: params is empty"):
        RMSprop([])
    p = Value(1.0)
    with pytest.raises(ValueError, match=r"params\[1\] is listed twice"):
        RMSprop([p, p])


# -- callback -------------------------------------------------------------------------------


def _fake_trainer(grads):
    params = [Value(0.0) for _ in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return SimpleNamespace(params=params, should_stop=False)


def test_grad_norm_records_each_step_and_adds_the_epoch_mean_to_the_metrics():
    monitor = GradNorm()
    trainer = _fake_trainer([3.0, 4.0])
    monitor.microgradx_train_start(trainer=trainer)
    monitor.microgradx_batch_end(trainer=trainer, epoch=0, batch=0, loss=1.0)
    trainer.params[0].grad = 0.0
    monitor.microgradx_batch_end(trainer=trainer, epoch=0, batch=1, loss=1.0)
    metrics = {"loss": 1.0}
    monitor.microgradx_epoch_end(trainer=trainer, epoch=0, metrics=metrics)
    assert monitor.norms == [5.0, 4.0] and metrics["grad_norm"] == 4.5
    assert not trainer.should_stop and monitor.tripped is None


@pytest.mark.parametrize("bad", [1e3, float("nan"), float("inf")])
def test_grad_norm_stops_training_when_the_gradient_explodes(bad):
    monitor, trainer = GradNorm(max_norm=100.0), _fake_trainer([1.0, bad])
    with pytest.warns(RuntimeWarning, match=r"exceeds max_norm=100 at epoch 2, batch 7"):
        monitor.microgradx_batch_end(trainer=trainer, epoch=2, batch=7, loss=0.5)
    assert trainer.should_stop and monitor.tripped[:2] == (2, 7)


@pytest.mark.parametrize("max_norm", [0.0, -1.0, float("nan"), "10"])
def test_grad_norm_max_norm_is_validated(max_norm):
    with pytest.raises(ValueError, match=r"GradNorm: max_norm must be a finite number in \(0, inf\), got"):
        GradNorm(max_norm=max_norm)


def test_grad_norm_hooks_are_valid_training_event_hooks_and_run_first():
    pm = get_registry().pm
    seen = {}

    class Later:  # registered after the monitor, so pluggy would call it first without tryfirst
        @microgradx.hookimpl
        def microgradx_epoch_end(self, trainer, epoch, metrics):
            seen.update(metrics)

    monitor, later = GradNorm(), Later()
    pm.register(monitor, name="grad-norm-under-test")
    pm.register(later, name="later-under-test")
    try:
        trainer = _fake_trainer([1.0, 2.0, 2.0])
        pm.hook.microgradx_train_start(trainer=trainer)
        pm.hook.microgradx_batch_end(trainer=trainer, epoch=0, batch=0, loss=0.1)
        pm.hook.microgradx_epoch_end(trainer=trainer, epoch=0, metrics={"loss": 0.1})
    finally:
        pm.unregister(monitor)
        pm.unregister(later)
    assert seen["grad_norm"] == 3.0


# -- used by the rest of microgradx by name ------------------------------------------------


def test_mlp_takes_softplus_and_leaky_relu_as_activations_by_name():
    mlp = get_registry().get("layers", "MLP")
    X = np.array([[0.5, -1.0], [2.0, 0.1], [-0.3, 0.3]])
    for name in ("softplus", "leaky_relu"):
        model = mlp(2, [3, 1], activation=name, seed=0)
        out = model(X)[0]
        used = {v.op.name for v in microgradx.topological_order(out) if v.op is not None}
        assert name in used
        one = model(X[1].tolist())[0]  # scalar mode gives the same prediction
        assert one.data == pytest.approx(out.data[1], rel=1e-12)


def test_quadrants_dataset_is_seeded_split_and_validated():
    a, b = load_quadrants(seed=3), get_registry().get("datasets", "quadrants")(seed=3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert a.X_train.shape == (320, 2) and a.X_test.shape == (80, 2) and a.task == "binary"
    X, y = np.vstack([a.X_train, a.X_test]), np.concatenate([a.y_train, a.y_test])
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(int))
    assert 0.4 < y.mean() < 0.6
    assert not np.array_equal(load_quadrants(seed=4).X_train, a.X_train)
    s = load_quadrants(standardize=True, n_samples=200, noise=0.1)
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match=r"dataset 'quadrants': n_samples must be an int >= 10, got 3"):
        load_quadrants(n_samples=3)
    with pytest.raises(ValueError, match=r"dataset 'quadrants': test_size must be a number in \(0, 1\), got 1.5"):
        load_quadrants(test_size=1.5)


def test_residual_mlp_adds_skip_connections_and_keeps_gradients_right(gradcheck):
    model = ResidualMLP(2, [3, 3, 1], activation="softplus", seed=0)
    assert model.num_parameters() == (2 * 3 + 3) + (3 * 3 + 3) + (3 + 1)
    X = np.array([[0.5, -1.0], [2.0, 0.1]])
    h1 = model.layers[0](X)
    h2 = [a + b for a, b in zip(h1, model.layers[1].forward(h1), strict=True)]
    want = model.layers[2].forward(h2)[0]
    assert np.allclose(model(X)[0].data, want.data, rtol=1e-14)
    assert model([2.0, 0.1])[0].data == pytest.approx(model(X)[0].data[1], rel=1e-12)  # scalar == lane mode
    # gradients through the skip connections, with respect to the inputs, in scalar and lane mode
    assert gradcheck(lambda x0, x1: model([x0, x1])[0], [0.5, -1.0]).ok
    assert gradcheck(lambda x0, x1: model([x0, x1])[0], [X[:, 0], X[:, 1]]).ok
    weights = model.get_weights()
    model.set_weights(weights)
    with pytest.raises(ValueError, match="expected 25 weights, got 2"):
        model.set_weights([1.0, 2.0])
    with pytest.raises(ValueError, match="weight 0 is nan"):
        model.set_weights([float("nan")] * 25)
    assert model.get_weights() == weights  # unchanged by the failed calls
    again = ResidualMLP.from_spec(model.spec())
    assert again.spec() == model.spec() and again.num_parameters() == 25
    with pytest.raises(ValueError, match="nouts must be a non-empty list"):
        ResidualMLP(2, [])


def test_trainer_builds_every_plugin_component_by_name():
    train = pytest.importorskip("microgradx.train")
    monitor = GradNorm()
    history = train.Trainer(model="ResidualMLP", dataset="quadrants", activation="softplus", hidden=(16, 16),
                            loss="huber", loss_options={"delta": 1.0}, optimizer="rmsprop", lr=0.01,
                            schedule="constant", batch_size=32, epochs=30, callbacks=[monitor, "grad_norm"],
                            seed=0).fit()
    # a linear model stays near 0.62 accuracy here and keeps ~80% of its first loss
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.train_accuracy[-1] >= 0.85 and history.test_accuracy[-1] >= 0.85
    assert len(monitor.norms) == 30 * 10  # 320 training examples in batches of 32
    assert all(math.isfinite(x) for x in monitor.norms)
