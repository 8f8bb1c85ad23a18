"""Every bundled op: finite differences (scalar and lane mode), PyTorch float64, overflow, domain errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from microgradx import Op, Value, ops
from microgradx.testing import check_op, gradcheck

N_LANES = 6


def _signed(rng, n, low=0.3, high=2.0):
    return rng.uniform(low, high, n) * rng.choice([-1.0, 1.0], n)


def _positive(rng, n, low=0.3, high=2.0):
    return rng.uniform(low, high, n)


#: name -> (samplers, one per input; microgradx expression; torch expression or None)
CASES = {
    "add": ((_signed, _signed), lambda a, b: a + b, lambda t, a, b: a + b),
    "sub": ((_signed, _signed), lambda a, b: a - b, lambda t, a, b: a - b),
    "neg": ((_signed,), lambda a: -a, lambda t, a: -a),
    "mul": ((_signed, _signed), lambda a, b: a * b, lambda t, a, b: a * b),
    "div": ((_signed, _signed), lambda a, b: a / b, lambda t, a, b: a / b),
    "pow_int": ((_signed,), lambda a: a ** 3, lambda t, a: a ** 3),
    "pow_negint": ((_signed,), lambda a: a ** -2, lambda t, a: a ** -2),
    "pow_float": ((_positive,), lambda a: a ** 1.7, lambda t, a: a ** 1.7),
    "pow_value": ((_positive, _signed), lambda a, b: a ** b, lambda t, a, b: t.pow(a, b)),
    "rpow": ((_signed,), lambda b: 2.5 ** b, lambda t, b: 2.5 ** b),
    "tanh": ((_signed,), lambda a: a.tanh(), lambda t, a: t.tanh(a)),
    "relu": ((_signed,), lambda a: a.relu(), lambda t, a: t.relu(a)),
    "exp": ((_signed,), lambda a: a.exp(), lambda t, a: t.exp(a)),
    "log": ((_positive,), lambda a: a.log(), lambda t, a: t.log(a)),
    "sigmoid": ((_signed,), lambda a: a.sigmoid(), lambda t, a: t.sigmoid(a)),
    "lane_sum": ((_signed,), lambda a: ops.lane_sum(a), lambda t, a: a.sum()),
    "lane_mean": ((_signed,), lambda a: ops.lane_mean(a), lambda t, a: a.mean()),
}
REDUCTIONS = {"lane_sum", "lane_mean"}
BUNDLED = ["add", "sub", "neg", "mul", "div", "pow", "tanh", "relu", "exp", "log", "sigmoid", "lane_sum", "lane_mean"]


def _points(name, rng):
    samplers, _, _ = CASES[name]
    return [s(rng, N_LANES) for s in samplers]


# -- finite differences ------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUNDLED)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_op_on_every_bundled_op(name, seed):
    """check_op: arity, shapes, no mutation, lane/scalar agreement, and gradcheck in both modes."""
    result = check_op(name, seed=seed)
    assert result.ok and result.max_error < 1e-5


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_scalar_mode_at_random_points(name, rng):
    _, fn, _ = CASES[name]
    points = _points(name, rng)
    for k in range(N_LANES):
        gradcheck(fn, [float(p[k]) for p in points])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_lane_mode_at_random_points(name, rng):
    _, fn, _ = CASES[name]
    gradcheck(fn, _points(name, rng))


def test_gradcheck_lanes_mixed_with_a_scalar_input(rng):
    """A lane input and a scalar input (a parameter) in the same op, for every binary op."""
    x = _positive(rng, N_LANES)
    for fn in (lambda a, w: a + w, lambda a, w: a - w, lambda a, w: w * a, lambda a, w: a / w,
               lambda a, w: w / a, lambda a, w: a ** w, lambda a, w: w ** a):
        gradcheck(fn, [x, 0.8])


def test_lane_reductions_of_expressions(rng):
    x = _signed(rng, N_LANES)
    gradcheck(lambda a: ops.lane_sum(a * a.tanh()), [x])
    gradcheck(lambda a, w: ops.lane_mean((a * w).sigmoid()) * w, [x, 0.7])
    s = ops.lane_sum(Value(x))
    assert type(s.data) is float and s.data == pytest.approx(x.sum())
    m = ops.lane_mean(Value(x))
    assert type(m.data) is float and m.data == pytest.approx(x.mean())
    assert ops.lane_sum(Value(1.25)).data == 1.25  # identity on a plain float


def test_relu_subgradient_at_zero_is_zero():
    v = Value(0.0)
    out = v.relu()
    out.backward()
    assert out.data == 0.0 and v.grad == 0.0
    v = Value(np.array([-1.0, 0.0, 2.0]))
    out = v.relu()
    out.backward(np.ones_like(out.data))
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(v.grad, [0.0, 0.0, 1.0])


# -- PyTorch float64 ---------------------------------------------------------------------------


def _torch_reference(torch, name, points):
    """Torch's output and input gradients for ``points`` (arrays of lanes), elementwise."""
    _, _, tfn = CASES[name]
    ts = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in points]
    out = tfn(torch, *ts)
    out.sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_in_lane_mode(torch, name, rng):
    points = _points(name, rng)
    want, want_grads = _torch_reference(torch, name, points)
    vs = [Value(p) for p in points]
    out = CASES[name][1](*vs)
    out.backward(np.ones_like(out.data))
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-14)
    for v, g in zip(vs, want_grads):
        np.testing.assert_allclose(v.grad, g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(set(CASES) - REDUCTIONS))
def test_matches_torch_in_scalar_mode(torch, name, rng):
    points = _points(name, rng)
    want, want_grads = _torch_reference(torch, name, points)
    for k in range(N_LANES):
        vs = [Value(float(p[k])) for p in points]
        out = CASES[name][1](*vs)
        out.backward()
        assert type(out.data) is float
        assert out.data == pytest.approx(want[k], rel=1e-12, abs=1e-14)
        for v, g in zip(vs, want_grads):
            assert v.grad == pytest.approx(g[k], rel=1e-12, abs=1e-14)


def test_matches_torch_on_a_composite_expression(torch, rng):
    x, w, b = rng.uniform(0.5, 1.5, N_LANES), 0.7, -0.3
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    tloss = ((tw * tx + tb).tanh() ** 2 + (tx / tw).log() - torch.sigmoid(-tx) * tx.exp()).mean()
    tloss.backward()
    vx, vw, vb = Value(x), Value(w), Value(b)
    loss = ops.lane_mean((vw * vx + vb).tanh() ** 2 + (vx / vw).log() - (-vx).sigmoid() * vx.exp())
    loss.backward()
    assert loss.data == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(vx.grad, tx.grad.numpy(), rtol=1e-12)
    assert vw.grad == pytest.approx(tw.grad.item(), rel=1e-12)
    assert vb.grad == pytest.approx(tb.grad.item(), rel=1e-12)


LARGE = np.array([-1000.0, -710.0, -30.0, 30.0, 709.0, 710.0, 1000.0])


@pytest.mark.parametrize("name", ["tanh", "exp", "sigmoid"])
def test_large_inputs_match_torch(torch, name):
    want, (want_grad,) = _torch_reference(torch, name, [LARGE])
    v = Value(LARGE)
    out = CASES[name][1](v)
    out.backward(np.ones_like(out.data))
    tol = {"rtol": 1e-12, "atol": 1e-300}  # torch flushes sigmoid(-710) = 4.5e-309 (subnormal) to 0
    np.testing.assert_allclose(out.data, want, **tol)
    np.testing.assert_allclose(v.grad, want_grad, **tol)
    for k, x in enumerate(LARGE):
        s = Value(float(x))
        out = CASES[name][1](s)
        out.backward()
        np.testing.assert_allclose(out.data, want[k], **tol)
        np.testing.assert_allclose(s.grad, want_grad[k], **tol)


# -- no overflow for |x| = 1000 ------------------------------------------------------------------


@pytest.mark.parametrize("lanes", [False, True])
def test_large_inputs_do_not_raise_or_warn(lanes):
    def make(x):
        return Value(np.array([x, x])) if lanes else Value(x)

    expected = {  # name -> {x: (value, gradient)}
        "tanh": {1000.0: (1.0, 0.0), -1000.0: (-1.0, 0.0)},
        "sigmoid": {1000.0: (1.0, 0.0), -1000.0: (0.0, 0.0)},
        "exp": {1000.0: (math.inf, math.inf), -1000.0: (0.0, 0.0)},  # IEEE: exp(1000) overflows to inf
    }
    # underflow to 0 (exp(-1000)) is the right answer, not an error, as in numpy's default settings
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        for name, cases in expected.items():
            for x, (value, grad) in cases.items():
                v = make(x)
                out = getattr(v, name)()
                out.backward(np.ones_like(out.data))
                np.testing.assert_array_equal(out.data, value, err_msg=f"{name}({x})")
                np.testing.assert_array_equal(v.grad, grad, err_msg=f"{name}'({x})")
                if name != "exp":
                    assert np.all(np.isfinite(v.grad))


# -- domain errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, -1.0, -1e-300])
def test_log_of_non_positive_raises_naming_op_and_value(x):
    with pytest.raises(ValueError, match=r"'log'") as info:
        Value(x).log()
    assert repr(x) in str(info.value)


def test_log_of_non_positive_lane_raises_naming_the_lane():
    with pytest.raises(ValueError, match=r"'log'") as info:
        Value(np.array([1.0, 2.0, -2.5, 0.0])).log()
    msg = str(info.value)
    assert "-2.5" in msg and "lane 2" in msg
    assert "np.float64" not in msg  # the number as a reader writes it


@pytest.mark.parametrize("base, exponent", [(-2.0, 0.5), (-0.5, 1.5), (-3.0, -0.25)])
def test_pow_negative_base_non_integer_exponent_raises(base, exponent):
    for expr in (lambda: Value(base) ** exponent, lambda: Value(base) ** Value(exponent),
                 lambda: base ** Value(exponent), lambda: ops.pow(base, exponent)):
        with pytest.raises(ValueError, match=r"'pow'") as info:
            expr()
        msg = str(info.value)
        assert repr(base) in msg and repr(exponent) in msg


def test_pow_negative_base_non_integer_exponent_in_lanes_names_the_lane():
    cases = [
        (lambda: Value(np.array([4.0, 1.0, -2.0])) ** 0.5, 2),
        (lambda: Value(np.array([4.0, -2.0, 1.0])) ** Value(np.array([0.5, 0.5, 0.5])), 1),
        (lambda: Value(np.array([-4.0, -2.0])) ** Value(np.array([2.0, 0.5])), 1),  # lane 0 is fine: 2.0
        (lambda: Value(-2.0) ** Value(np.array([3.0, 0.5])), 1),
    ]
    for expr, lane in cases:
        with pytest.raises(ValueError, match=r"'pow'") as info:
            expr()
        msg = str(info.value)
        assert f"lane {lane}" in msg and "-2.0" in msg and "0.5" in msg, msg
        assert "np.float64" not in msg


def test_valid_powers_of_negative_bases_work():
    np.testing.assert_allclose((Value(np.array([-2.0, 3.0])) ** 2).data, [4.0, 9.0])
    assert (Value(-2.0) ** Value(3.0)).data == -8.0


# -- formula: the text of an op's local derivative, shown by the explorer page (issue 24) ----------


def test_every_bundled_op_has_a_formula_of_one_text_or_one_per_input():
    from microgradx import get_registry

    registry = get_registry()
    for name in registry.names("ops"):
        op = registry.get("ops", name)
        if registry.component("ops", name).plugin.name.startswith(("test", "swish")):
            continue
        assert isinstance(op.formula, str) or (isinstance(op.formula, tuple) and len(op.formula) == op.arity), name
    assert (Value(3.0) ** 2).op.formula == "2*x" and (Value(3.0) ** 0.5).op.formula == "0.5*x**-0.5"


@pytest.mark.parametrize("kwargs, message", [
    ({"formula": ("y",)}, r"Op 'twice': formula must be a str .* tuple of one str per input \(arity=2"),
    ({"formula": 3}, "formula must be a str"),
    ({"formula": ("y", 2)}, "formula must be a str"),
    ({"arity": None, "formula": ("1", "1")}, r"a variadic op takes a str"),
])
def test_a_bad_formula_names_the_op(kwargs, message):
    kwargs = {"arity": 2, **kwargs}
    with pytest.raises(TypeError, match=message):
        Op(name="twice", forward=lambda *xs: xs[0] * 2, backward=lambda g, out, *xs: (2 * g, None), **kwargs)
    Op(name="twice", arity=2, forward=lambda x, y: x * 2, backward=lambda g, out, x, y: (2 * g, None),
       formula=("2", "0"))  # one per input: fine
