"""microgradx.grad, gradients, hessian and hvp: derivatives as functions (issue 23, point 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradx
from microgradx import Value, grad, gradients, hessian, hvp


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def rosenbrock_hessian(x, y):
    return np.array([[2 - 400 * (y - x**2) + 800 * x**2, -400 * x], [-400 * x, 200.0]])


def smooth(v):
    """A function of three inputs whose every second derivative is non-zero somewhere."""
    return (v[0] * v[1]).tanh() + (v[1] * v[2]).exp() * 0.1 + v[0] ** 3 / (1 + v[2] ** 2) + (v[0] + 2).log()


def smooth_float(x):
    return (math.tanh(x[0] * x[1]) + 0.1 * math.exp(x[1] * x[2]) + x[0] ** 3 / (1 + x[2] ** 2)
            + math.log(x[0] + 2))


def fd_hessian(f, x, h=1e-4):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    H = np.empty((n, n))
    step = np.eye(n) * h
    for i in range(n):
        for j in range(n):
            corners = [f(x + si * step[i] + sj * step[j]) for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            H[i, j] = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * h * h)
    return H


# -- grad ----------------------------------------------------------------------------------------------------


def test_grad_composes_into_higher_derivatives():
    f = lambda x: x**3 + x.tanh()
    t = math.tanh(0.5)
    assert grad(f)(0.5) == pytest.approx(3 * 0.25 + 1 - t**2)
    assert grad(grad(f))(0.5) == pytest.approx(6 * 0.5 - 2 * t * (1 - t**2))
    assert grad(grad(grad(f)))(0.5) == pytest.approx(6 - 2 * (1 - t**2) ** 2 + 4 * t**2 * (1 - t**2))
    assert isinstance(grad(f)(0.5), float)


def test_grad_by_argnums_gives_each_arguments_shape():
    f = lambda x, y, z: x * x * y + z
    assert grad(f)(3.0, 2.0, 1.0) == 12.0
    assert grad(f, 1)(3.0, 2.0, 1.0) == 9.0
    assert grad(f, -1)(3.0, 2.0, 1.0) == 1.0
    assert grad(f, (0, 1))(3.0, 2.0, 1.0) == (12.0, 9.0)
    g = grad(lambda xs: xs[0] * xs[1] ** 2)([3.0, 2.0])  # a list: a list of gradients
    assert g == [4.0, 12.0]


def test_grad_over_lanes_gives_each_lanes_own_derivative():
    xs = np.array([-1.0, 0.0, 0.7, 2.0])
    d1 = grad(lambda x: x.tanh() * x)(xs)
    d2 = grad(grad(lambda x: x.tanh() * x))(xs)
    t = np.tanh(xs)
    assert isinstance(d1, np.ndarray) and d1.shape == xs.shape
    assert np.allclose(d1, t + xs * (1 - t**2))
    assert np.allclose(d2, 2 * (1 - t**2) - 2 * xs * t * (1 - t**2))


def test_grad_leaves_every_grad_as_it_was():
    w = Value(2.0)
    w.grad = 5.0
    assert grad(lambda x: x * w)(3.0) == 2.0
    assert w.grad == 5.0


def test_grad_refuses_what_it_cannot_differentiate():
    with pytest.raises(TypeError, match="grad takes a function"):
        grad(3.0)
    with pytest.raises(ValueError, match="argnums 2 does not fit the 1 argument"):
        grad(lambda x: x, 2)(1.0)
    with pytest.raises(TypeError, match="must return a Value, got float"):
        grad(lambda x: 2.0)(1.0)


# -- gradients ---------------------------------------------------------------------------------------------------


def test_gradients_as_torch_autograd_grad(torch):
    a, b = Value(0.3), Value(-1.2)
    out = (a * b).tanh() * a.exp()
    ga, gb = gradients(out, [a, b], create_graph=True)
    (gab,) = gradients(ga, [b])
    A = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    B = torch.tensor(-1.2, dtype=torch.float64, requires_grad=True)
    OUT = (A * B).tanh() * A.exp()
    GA, GB = torch.autograd.grad(OUT, [A, B], create_graph=True)
    (GAB,) = torch.autograd.grad(GA, [B])
    assert (ga.data, gb.data, gab) == pytest.approx((GA.item(), GB.item(), GAB.item()), rel=1e-12)
    assert a.grad == 0.0 and b.grad == 0.0


def test_gradients_of_an_input_not_used_is_zero_and_errors_say_what():
    a, b = Value(1.0), Value(2.0)
    assert gradients(a * 3.0, [a, b]) == [3.0, 0.0]
    with pytest.raises(TypeError, match="output must be a Value"):
        gradients(1.0, [a])
    with pytest.raises(TypeError, match="inputs must be Values"):
        gradients(a * 2.0, [1.0])
    lanes = Value(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"holds 2 lanes.*grad_output"):
        gradients(lanes * lanes, [lanes])
    (g,) = gradients(lanes * lanes, [lanes], grad_output=np.array([1.0, 0.5]))
    assert np.array_equal(g, [2.0, 2.0])


# -- hessian and hvp -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [[1.0, 1.0], [-1.2, 1.0], [0.3, -0.4]])
def test_hessian_of_rosenbrock_is_exact(x):
    assert np.allclose(hessian(rosenbrock, x), rosenbrock_hessian(*x), rtol=1e-12)


def test_hessian_matches_finite_differences_and_pytorch(torch):
    x = [0.4, -0.3, 0.8]
    H = hessian(smooth, x)
    assert np.allclose(H, H.T, rtol=1e-12)
    assert np.allclose(H, fd_hessian(smooth_float, x), rtol=1e-5, atol=1e-6)

    def smooth_torch(v):
        return (v[0] * v[1]).tanh() + (v[1] * v[2]).exp() * 0.1 + v[0] ** 3 / (1 + v[2] ** 2) + (v[0] + 2).log()

    T = torch.autograd.functional.hessian(smooth_torch, torch.tensor(x, dtype=torch.float64))
    assert np.allclose(H, T.numpy(), rtol=1e-12, atol=1e-14)


def test_hvp_is_the_hessian_times_v_and_zero_for_a_linear_function():
    x, v = [0.4, -0.3, 0.8], [1.0, -2.0, 0.5]
    assert np.allclose(hvp(smooth, x, v), hessian(smooth, x) @ np.array(v), rtol=1e-12)
    assert np.array_equal(hvp(lambda u: u[0] * 2.0 + u[1], [1.0, 2.0], [1.0, 1.0]), [0.0, 0.0])
    assert np.array_equal(hessian(lambda u: u[0] * 2.0 + Value(1.0), [1.0, 2.0]), np.zeros((2, 2)))


def test_hessian_and_hvp_refuse_bad_input():
    with pytest.raises(ValueError, match="1-D list of numbers"):
        hessian(rosenbrock, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="v must hold 2 numbers"):
        hvp(rosenbrock, [1.0, 2.0], [1.0])
    with pytest.raises(TypeError, match="f must return one number"):
        hessian(lambda u: 3.0, [1.0])


# -- compiled ----------------------------------------------------------------------------------------------------


def test_grad_inside_a_compiled_function_equals_eager():
    """A gradient penalty with microgradx.grad inside: one recording, any batch size, the same numbers."""
    w = Value(0.8)
    slope = grad(lambda x: (x * w).tanh() * x)  # du/dx for each example (lane)

    def penalty(x: Value) -> Value:
        return (slope(x) ** 2).lane_mean()

    compiled = microgradx.compile(penalty)
    for rows in (5, 5, 9):
        xs = np.linspace(-2, 2, rows)
        w.grad = 0.0
        got = compiled(xs)
        got.backward()
        compiled_grad, w.grad = w.grad, 0.0
        want = penalty(Value(xs))
        want.backward()
        assert got.data == pytest.approx(want.data, rel=1e-12)
        assert compiled_grad == pytest.approx(w.grad, rel=1e-12)
        w.data += 0.1
    assert compiled.recordings == 1
