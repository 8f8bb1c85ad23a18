"""Optimizers against steps computed by hand (and PyTorch); schedules at chosen steps; bad settings."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradx
from microgradx import Value
from microgradx.nn import SGD, Adam, Constant, Cosine, LinearDecay


def _params(data, grads):
    ps = [Value(float(d)) for d in data]
    for p, g in zip(ps, grads):
        p.grad = float(g)
    return ps


def _set_grads(ps, grads):
    for p, g in zip(ps, grads):
        p.grad = float(g)


def test_sgd_plain_step():
    ps = _params([1.0, -2.0], [0.5, -4.0])
    SGD(ps, lr=0.1).step()
    assert [p.data for p in ps] == pytest.approx([1.0 - 0.05, -2.0 + 0.4], abs=1e-15)


def test_sgd_momentum_two_steps():
    ps = _params([1.0], [2.0])
    opt = SGD(ps, lr=0.1, momentum=0.9)
    opt.step()                        # buf = 2.0; p = 1.0 - 0.1*2.0 = 0.8
    assert ps[0].data == pytest.approx(0.8, abs=1e-15)
    _set_grads(ps, [-1.0])
    opt.step()                        # buf = 0.9*2.0 - 1.0 = 0.8; p = 0.8 - 0.08 = 0.72
    assert ps[0].data == pytest.approx(0.72, abs=1e-15)


def test_sgd_nesterov_two_steps():
    ps = _params([1.0], [2.0])
    opt = SGD(ps, lr=0.1, momentum=0.5, nesterov=True)
    opt.step()                        # buf = 2; step g + 0.5*buf = 3; p = 1 - 0.3 = 0.7
    assert ps[0].data == pytest.approx(0.7, abs=1e-15)
    _set_grads(ps, [1.0])
    opt.step()                        # buf = 0.5*2 + 1 = 2; step 1 + 0.5*2 = 2; p = 0.7 - 0.2 = 0.5
    assert ps[0].data == pytest.approx(0.5, abs=1e-15)


def test_sgd_weight_decay():
    ps = _params([2.0, -1.0], [0.0, 1.0])
    SGD(ps, lr=0.5, weight_decay=0.1).step()   # g = grad + 0.1 * p
    assert [p.data for p in ps] == pytest.approx([2.0 - 0.5 * 0.2, -1.0 - 0.5 * (1.0 - 0.1)], abs=1e-15)


def test_adam_first_two_steps_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    ps = _params([1.0, -0.5], [0.2, -3.0])
    opt = Adam(ps, lr=lr, beta1=b1, beta2=b2, eps=eps)
    opt.step()
    # step 1: m = 0.1*g, v = 0.001*g^2; m_hat = g, v_hat = g^2; p -= lr * g / (|g| + eps)
    expected1 = [1.0 - lr * 0.2 / (0.2 + eps), -0.5 - lr * -3.0 / (3.0 + eps)]
    assert [p.data for p in ps] == pytest.approx(expected1, abs=1e-15)
    _set_grads(ps, [0.4, 1.0])
    opt.step()
    # step 2, first parameter: m = 0.9*0.02 + 0.1*0.4 = 0.058; v = 0.999*0.00004 + 0.001*0.16 = 0.00019996
    m, v = 0.9 * 0.02 + 0.1 * 0.4, 0.999 * 0.001 * 0.04 + 0.001 * 0.16
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    assert ps[0].data == pytest.approx(expected1[0] - lr * m_hat / (math.sqrt(v_hat) + eps), abs=1e-15)
    # second parameter: m = 0.9*(-0.3) + 0.1*1.0 = -0.17; v = 0.999*0.009 + 0.001*1.0
    m, v = 0.9 * -0.3 + 0.1 * 1.0, 0.999 * 0.009 + 0.001
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    assert ps[1].data == pytest.approx(expected1[1] - lr * m_hat / (math.sqrt(v_hat) + eps), abs=1e-15)
    assert opt.t == 2


@pytest.mark.parametrize("make_ours, make_torch", [
    (lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
     lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01)),
    (lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
     lambda t, ps: t.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    (lambda ps: Adam(ps, lr=0.01, weight_decay=0.02),
     lambda t, ps: t.optim.Adam(ps, lr=0.01, weight_decay=0.02)),
    (lambda ps: Adam(ps, lr=0.1, beta1=0.5, beta2=0.9, eps=1e-6),
     lambda t, ps: t.optim.Adam(ps, lr=0.1, betas=(0.5, 0.9), eps=1e-6)),
])
def test_several_steps_against_pytorch(make_ours, make_torch, rng, torch):
    start = rng.normal(size=5)
    ours = [Value(float(x)) for x in start]
    tp = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt, topt = make_ours(ours), make_torch(torch, [tp])
    for _ in range(6):
        grads = rng.normal(size=5)
        _set_grads(ours, grads)
        tp.grad = torch.tensor(grads, dtype=torch.float64)
        opt.step()
        topt.step()
    np.testing.assert_allclose([p.data for p in ours], tp.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_zero_grad_and_mutable_lr():
    ps = _params([1.0, 2.0], [1.0, 1.0])
    opt = SGD(ps, lr=0.1)
    opt.lr = 0.5  # what a schedule does
    opt.step()
    assert [p.data for p in ps] == pytest.approx([0.5, 1.5])
    opt.zero_grad()
    assert [p.grad for p in ps] == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"SGD: lr must be a finite number >= 0, got -1\.0"):
        opt.lr = -1.0  # settings are validated on assignment too
    assert opt.lr == 0.5


def test_step_refuses_a_lane_gradient():
    ps = _params([1.0], [0.0])
    ps[0].grad = np.ones(3)
    with pytest.raises(TypeError, match=r"params\[0\]\.grad is not a float"):
        SGD(ps).step()


@pytest.mark.parametrize("make, err, match", [
    (lambda ps: SGD(ps, lr=-0.1), ValueError, "SGD: lr must be a finite number >= 0, got -0.1"),
    (lambda ps: SGD(ps, lr=math.nan), ValueError, "lr must be a finite number"),
    (lambda ps: SGD(ps, lr="0.1"), ValueError, "lr must be a finite number"),
    (lambda ps: SGD(ps, momentum=1.0), ValueError, r"SGD: momentum must be a finite number in \[0, 1\), got 1.0"),
    (lambda ps: SGD(ps, momentum=-0.5), ValueError, r"SGD: momentum must be .* in \[0, 1\), got -0.5"),
    (lambda ps: SGD(ps, weight_decay=-1), ValueError, "SGD: weight_decay must be a finite number >= 0, got -1"),
    (lambda ps: SGD(ps, nesterov=True), ValueError, "nesterov=True needs a momentum > 0"),
    (lambda ps: SGD(ps, momentum=0.9, nesterov=1), TypeError, "nesterov"),
    (lambda ps: Adam(ps, lr=-1e-3), ValueError, "Adam: lr must be a finite number >= 0, got -0.001"),
    (lambda ps: Adam(ps, beta1=1.0), ValueError, r"Adam: beta1 must be a finite number in \[0, 1\), got 1.0"),
    (lambda ps: Adam(ps, beta2=-0.1), ValueError, r"Adam: beta2 must be .* in \[0, 1\), got -0.1"),
    (lambda ps: Adam(ps, eps=0.0), ValueError, "Adam: eps must be a finite number > 0, got 0.0"),
    (lambda ps: Adam(ps, weight_decay=-0.1), ValueError, "Adam: weight_decay must be a finite number >= 0, got -0.1"),
    (lambda ps: SGD([]), ValueError, r"SGD: params must be a non-empty list of parameters, e\.g\. .*, got \[\]"),
    (lambda ps: SGD(ps[0]), TypeError, "not one Value"),
    (lambda ps: SGD([*ps, 1.0]), TypeError,
     r"SGD: params must be a list of Values holding floats \(parameters, not lanes\), got \[Value.*, 1\.0\]"),
    (lambda ps: SGD([*ps, ps[0]]), ValueError,
     r"SGD: params must be a list of distinct Values \(each parameter once\), got \[Value"),
    (lambda ps: Adam([Value(np.ones(2))]), TypeError, r"Adam: params must be a list of Values holding floats.*lanes=2"),
    (lambda ps: SGD(3), TypeError, "params must be a list of Values"),
])
def test_bad_settings_fail_at_construction(make, err, match):
    with pytest.raises(err, match=match):
        make(_params([1.0, 2.0], [0.0, 0.0]))


def test_linear_schedule_is_micrograds_decay():
    linear = LinearDecay()
    for k in (0, 1, 37, 50, 99, 100):
        assert linear(1.0, k, 100) == pytest.approx(1.0 - 0.9 * k / 100, abs=1e-15)
    assert linear(1.0, 150, 100) == pytest.approx(0.1)  # stays at the end value
    assert LinearDecay(end_factor=0.0)(0.2, 25, 100) == pytest.approx(0.15)


def test_constant_and_cosine_schedules():
    assert Constant()(0.3, 0, 10) == Constant()(0.3, 9, 10) == 0.3
    cosine = Cosine()
    assert cosine(2.0, 0, 100) == pytest.approx(2.0)
    assert cosine(2.0, 50, 100) == pytest.approx(1.0)
    assert cosine(2.0, 25, 100) == pytest.approx(1.0 + math.cos(math.pi / 4))
    assert cosine(2.0, 100, 100) == pytest.approx(0.0, abs=1e-15)
    assert Cosine(min_factor=0.1)(1.0, 100, 100) == pytest.approx(0.1)
    assert Cosine(min_factor=0.1)(1.0, 50, 100) == pytest.approx(0.55)


@pytest.mark.parametrize("call, match", [
    (lambda: LinearDecay(end_factor=1.5), r"end_factor must be a number in \[0, 1\], got 1.5"),
    (lambda: Cosine(min_factor=-0.1), "min_factor must be"),
    (lambda: LinearDecay()(1.0, -1, 100), "step must be an int >= 0, got -1"),
    (lambda: Cosine()(1.0, 3, 0), "total_steps must be a positive int, got 0"),
    (lambda: Constant()(-0.1, 0, 10), "base_lr must be a number >= 0"),
])
def test_bad_schedule_settings(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_registered_names():
    registry = microgradx.get_registry()
    assert registry.get("optimizers", "sgd") is SGD and registry.get("optimizers", "adam") is Adam
    assert registry.get("schedules", "constant") is Constant
    assert registry.get("schedules", "linear") is LinearDecay
    assert registry.get("schedules", "cosine") is Cosine


def test_optimizers_train_a_tiny_regression():
    """Both optimizers bring a quadratic bowl's minimum within reach: a wrong sign would diverge."""
    for make in (lambda ps: SGD(ps, lr=0.1, momentum=0.5), lambda ps: Adam(ps, lr=0.1)):
        a, b = Value(3.0), Value(-2.0)
        opt = make([a, b])
        for _ in range(200):
            loss = (a - 1.0) ** 2 + (b + 0.5) ** 2 * 2.0
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert a.data == pytest.approx(1.0, abs=1e-3) and b.data == pytest.approx(-0.5, abs=1e-3)
