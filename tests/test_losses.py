"""Losses: finite-difference gradients in both modes, PyTorch, micrograd's hinge, stability, L2, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradx
from microgradx import Value
from microgradx.nn import BCE, MSE, Hinge, SoftmaxCE
from microgradx.testing import gradcheck

N = 6


def _case(name, rng):
    """(loss, outputs as arrays of lanes, targets) for a loss name."""
    if name == "mse":
        return MSE(), [rng.normal(size=N)], rng.normal(size=N)
    if name == "mse2":
        return MSE(), [rng.normal(size=N), rng.normal(size=N)], rng.normal(size=(N, 2))
    if name == "hinge":  # scores away from the kink at margin 1
        s = rng.uniform(-0.8, 0.8, N) + np.where(rng.random(N) > 0.5, 2.5, 0.0)
        return Hinge(), [s], (rng.random(N) > 0.5).astype(float)
    if name == "bce":
        return BCE(), [rng.normal(size=N) * 3], (rng.random(N) > 0.5).astype(float)
    if name == "softmax_ce":
        return SoftmaxCE(), [rng.normal(size=N) * 2 for _ in range(4)], rng.integers(0, 4, N).astype(float)
    raise AssertionError(name)


NAMES = ["mse", "mse2", "hinge", "bce", "softmax_ce"]


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_lane_mode(name, rng):
    loss, outs, t = _case(name, rng)
    gradcheck(lambda *o: loss(list(o), t), outs)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_scalar_mode(name, rng):
    loss, outs, t = _case(name, rng)
    for i in range(N):
        gradcheck(lambda *o, i=i: loss(list(o), t[i:i + 1]), [float(o[i]) for o in outs])


@pytest.mark.parametrize("name", NAMES)
def test_lane_loss_is_the_mean_of_scalar_losses(name, rng):
    loss, outs, t = _case(name, rng)
    lane = loss([Value(o) for o in outs], t)
    assert isinstance(lane.data, float)
    scalar = [loss([Value(float(o[i])) for o in outs], t[i]).data for i in range(N)]
    assert lane.data == pytest.approx(np.mean(scalar), rel=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_against_pytorch(name, rng, torch):
    F = torch.nn.functional
    loss, outs, t = _case(name, rng)
    values = [Value(o) for o in outs]
    ours = loss(values, t)
    ours.backward()
    z = torch.tensor(np.stack(outs, axis=1), dtype=torch.float64, requires_grad=True)
    tt = torch.tensor(t, dtype=torch.float64)
    if name.startswith("mse"):
        ref = F.mse_loss(z if t.ndim == 2 else z[:, 0], tt)
    elif name == "hinge":
        ref = torch.relu(1 - (2 * tt - 1) * z[:, 0]).mean()
    elif name == "bce":
        ref = F.binary_cross_entropy_with_logits(z[:, 0], tt)
    else:
        ref = F.cross_entropy(z, tt.long())
    ref.backward()
    assert ours.data == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(np.stack([v.grad for v in values], axis=1), z.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_hinge_on_01_labels_is_micrograds_max_margin_loss_on_pm1(rng):
    engine = pytest.importorskip("micrograd.engine")
    scores = rng.normal(size=10) * 2
    labels01 = (rng.random(10) > 0.5).astype(float)
    ypm = 2 * labels01 - 1  # micrograd's demo labels are -1/+1
    # micrograd's demo: losses = [(1 + -yi*scorei).relu() ...]; data_loss = sum(losses) * (1.0 / len(losses))
    mg_scores = [engine.Value(float(s)) for s in scores]
    losses = [(1 + -yi * si).relu() for yi, si in zip(ypm.tolist(), mg_scores)]
    mg_loss = sum(losses) * (1.0 / len(losses))
    mg_loss.backward()
    ours_scores = Value(scores)
    ours = Hinge()([ours_scores], labels01)
    ours.backward()
    assert ours.data == pytest.approx(mg_loss.data, rel=1e-14)
    np.testing.assert_allclose(ours_scores.grad, [s.grad for s in mg_scores], rtol=1e-14)


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_bce_is_stable_for_huge_logits(big):
    z = Value(np.array([big, big, -big]))
    t = np.array([1.0, 0.0, 1.0])
    loss = BCE()([z], t)
    loss.backward()
    # per example: softplus(z) - t*z; with |z| = 1000 that is 0 or 1000 exactly
    expected = np.mean(np.logaddexp(0.0, z.data) - t * z.data)
    assert math.isfinite(loss.data) and loss.data == pytest.approx(expected, rel=1e-15)
    sigmoid = 0.5 * (1 + np.tanh(z.data / 2))
    np.testing.assert_allclose(z.grad, (sigmoid - t) / 3, atol=1e-300)
    zs = Value(big)  # scalar mode
    one = BCE()([zs], 0.0)
    one.backward()
    assert one.data == pytest.approx(max(big, 0.0), abs=1e-12) and math.isfinite(zs.grad)


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_softmax_ce_is_stable_for_huge_logits(big):
    logits = [Value(np.array([big, 0.0])), Value(np.array([-big, big])), Value(np.array([0.0, -big]))]
    labels = np.array([1, 2])
    loss = SoftmaxCE()(logits, labels)
    loss.backward()
    assert math.isfinite(loss.data)
    for v in logits:
        assert np.all(np.isfinite(v.grad))
    a = np.stack([v.data for v in logits], axis=1)
    m = a.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]
    assert loss.data == pytest.approx(np.mean(lse - a[[0, 1], labels]), rel=1e-15)
    soft = np.exp(a - lse[:, None])
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(np.stack([v.grad for v in logits], axis=1), (soft - onehot) / 2, atol=1e-300)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lanes", [True, False])
def test_l2_adds_l2_times_sum_of_squares(name, lanes, rng):
    loss, outs, t = _case(name, rng)
    params = [Value(float(p)) for p in rng.normal(size=5)]
    if not lanes:
        outs, t = [float(o[0]) for o in outs], t[:1]
    plain = loss([Value(o) for o in outs], t)
    penalised = type(loss)(l2=0.3)([Value(o) for o in outs], t, params)
    assert penalised.data - plain.data == pytest.approx(0.3 * sum(p.data ** 2 for p in params), rel=1e-12)
    penalised.backward()
    np.testing.assert_allclose([p.grad for p in params], [2 * 0.3 * p.data for p in params], rtol=1e-13)
    assert type(loss)(l2=0.0)([Value(o) for o in outs], t, params).data == plain.data


def test_l2_penalty_gradchecks(rng):
    t = np.array([1.0, 0.0, 1.0])

    def fn(z, *params):
        return BCE(l2=0.05)([z], t, params)

    gradcheck(fn, [rng.normal(size=3), *rng.normal(size=4).tolist()])


@pytest.mark.parametrize("l2", [-1e-4, math.nan, math.inf, "0.1", True])
def test_bad_l2_fails_at_construction(l2):
    for cls in (MSE, Hinge, BCE, SoftmaxCE):
        with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
            cls(l2=l2)


@pytest.mark.parametrize("call, err, match", [
    (lambda: BCE()([Value(np.zeros(3))], np.array([0.0, 1.0])), ValueError, r"2 target\(s\) for 3 example"),
    (lambda: BCE()([Value(np.zeros(2))], np.array([0.0, 2.0])), ValueError, "labels must be 0 or 1, got 2.0"),
    (lambda: Hinge()([Value(np.zeros(2))], np.array([-1.0, 1.0])), ValueError, "labels must be 0 or 1, got -1.0"),
    (lambda: BCE()([Value(0.0), Value(0.0)], [1.0]), ValueError, "takes one output"),
    (lambda: SoftmaxCE()([Value(0.0), Value(0.0)], [2]), ValueError, r"class indices 0\.\.1, got 2.0"),
    (lambda: SoftmaxCE()([Value(0.0)], [0]), ValueError, "at least 2 outputs"),
    (lambda: SoftmaxCE()([Value(0.0), Value(1.0)], [0.5]), ValueError, "class indices"),
    (lambda: MSE()([Value(0.0), Value(1.0)], [0.5]), ValueError, r"2 outputs need targets of shape \(n, 2\)"),
    (lambda: MSE()([Value(0.0)], [math.nan]), ValueError, "nan or inf"),
    (lambda: MSE()([Value(0.0)], Value(1.0)), TypeError, "not a Value"),
    (lambda: MSE()([1.0], [1.0]), TypeError, "outputs must be the list of Values"),
    (lambda: MSE()([Value(np.zeros(2)), Value(0.0)], np.zeros((2, 2))), ValueError,
     r"mix 2 lanes and floats \(one example\)"),
])
def test_bad_calls_are_named(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_predict_and_task():
    z = [Value(np.array([2.0, -1.0, 0.5]))]
    assert BCE.task == Hinge.task == "binary" and SoftmaxCE.task == "multiclass" and MSE.task == "regression"
    np.testing.assert_array_equal(BCE().predict(z), [1, 0, 1])
    np.testing.assert_array_equal(Hinge().predict(z), [1, 0, 1])
    np.testing.assert_array_equal(MSE().predict(z), [2.0, -1.0, 0.5])
    logits = [Value(np.array([0.0, 5.0])), Value(np.array([3.0, 1.0])), Value(np.array([1.0, 2.0]))]
    np.testing.assert_array_equal(SoftmaxCE().predict(logits), [1, 0])
    np.testing.assert_array_equal(SoftmaxCE().predict([Value(0.0), Value(3.0)]), [1])  # scalar mode: one example


def test_registered_as_losses():
    registry = microgradx.get_registry()
    for name, cls in {"mse": MSE, "hinge": Hinge, "bce": BCE, "softmax_ce": SoftmaxCE}.items():
        assert registry.get("losses", name) is cls
        assert registry.component("losses", name).plugin.name == "losses"
