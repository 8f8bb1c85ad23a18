"""The public contract of `Value`: construction, operators, op methods, the public names."""

from __future__ import annotations

import math
import subprocess
import sys

import attrs
import numpy as np
import pytest

import microgradx
from microgradx import Op, Value, hookimpl, ops
from microgradx.testing import gradcheck


def test_public_names_import():
    """``from microgradx import Value, Op, hookimpl, ops`` is the documented entry point."""
    from microgradx import Op as Op2
    from microgradx import Value as Value2
    from microgradx import hookimpl as hookimpl2
    from microgradx import ops as ops2

    assert (Value2, Op2, hookimpl2, ops2) == (Value, Op, hookimpl, ops)
    for name in ("Value", "Op", "hookimpl", "ops"):
        assert name in microgradx.__all__


@pytest.mark.parametrize("x, expected", [
    (3, 3.0),
    (-2.5, -2.5),
    (np.float32(1.5), 1.5),
    (np.float64(-0.25), -0.25),
    (np.int64(7), 7.0),
    (np.int32(-4), -4.0),
])
def test_value_from_numbers_is_a_float(x, expected):
    v = Value(x)
    assert type(v.data) is float and v.data == expected
    assert type(v.grad) is float and v.grad == 0.0
    assert not v.is_lanes


@pytest.mark.parametrize("arr", [np.array([1.0, -2.0, 3.5]), np.array([1, 2, 3]), np.array([0.5, 1.5], np.float32)])
def test_value_from_1d_array_is_float64_lanes(arr):
    v = Value(arr)
    assert isinstance(v.data, np.ndarray) and v.data.dtype == np.float64 and v.data.shape == arr.shape
    np.testing.assert_array_equal(v.data, arr.astype(np.float64))
    assert isinstance(v.grad, np.ndarray) and v.grad.shape == arr.shape and not v.grad.any()
    assert v.is_lanes


def test_value_copies_its_lane_array():
    arr = np.array([1.0, 2.0])
    v = Value(arr)
    arr[0] = 99.0
    assert v.data[0] == 1.0


@pytest.mark.parametrize("bad, type_name", [
    ("1.0", "str"),
    (None, "NoneType"),
    (1 + 2j, "complex"),
    (np.ones((2, 2)), "2-D"),
    ([1.0, 2.0], "list"),
    ((1.0,), "tuple"),
    (True, "bool"),
    (np.bool_(False), "bool"),
    (np.array([1 + 1j]), "complex"),
])
def test_value_rejects_other_types_naming_them(bad, type_name):
    with pytest.raises(TypeError, match=type_name):
        Value(bad)


@pytest.mark.parametrize("bad, type_name", [("x", "str"), (None, "NoneType"), ([1.0], "list"), (2j, "complex")])
def test_operators_reject_other_types_naming_them(bad, type_name):
    v = Value(1.0)
    for expr in (lambda: v + bad, lambda: bad + v, lambda: v * bad, lambda: v ** bad, lambda: v / bad):
        with pytest.raises(TypeError, match=type_name):
            expr()


def _check(result, expected, *grads):
    """``result`` is a Value with data ``expected``; after backward, each (value, grad) pair matches."""
    assert isinstance(result, Value)
    np.testing.assert_allclose(result.data, expected, rtol=1e-12)
    result.backward(np.ones_like(result.data))
    for v, g in grads:
        np.testing.assert_allclose(v.grad, g, rtol=1e-12)


def test_binary_operators_and_reflected_forms():
    a, b = 1.7, -0.6
    cases = [
        (lambda x, y: x + y, a + b, 1.0, 1.0),
        (lambda x, y: x - y, a - b, 1.0, -1.0),
        (lambda x, y: x * y, a * b, b, a),
        (lambda x, y: x / y, a / b, 1 / b, -a / b**2),
    ]
    for fn, value, ga, gb in cases:
        x, y = Value(a), Value(b)
        _check(fn(x, y), value, (x, ga), (y, gb))
        x = Value(a)  # number on the right
        _check(fn(x, b), value, (x, ga))
        y = Value(b)  # number on the left: the reflected operator
        _check(fn(a, y), value, (y, gb))


def test_pow_with_number_value_and_reflected():
    x = Value(1.3)
    _check(x ** 3, 1.3**3, (x, 3 * 1.3**2))
    x = Value(1.3)
    _check(x ** -0.5, 1.3**-0.5, (x, -0.5 * 1.3**-1.5))
    x, y = Value(1.3), Value(2.2)
    _check(x ** y, 1.3**2.2, (x, 2.2 * 1.3**1.2), (y, 1.3**2.2 * math.log(1.3)))
    y = Value(2.2)
    _check(2.0 ** y, 2.0**2.2, (y, 2.0**2.2 * math.log(2.0)))
    x = Value(-1.5)  # negative base, integer exponent: fine
    _check(x ** 3, -1.5**3, (x, 3 * 1.5**2))


def test_unary_minus():
    x = Value(0.75)
    _check(-x, -0.75, (x, -1.0))
    x = Value(np.array([1.0, -2.0]))
    _check(-x, [-1.0, 2.0], (x, [-1.0, -1.0]))


def test_numpy_array_on_the_left_gives_a_lane_value():
    v = Value(3.0)
    arr = np.array([1.0, 2.0])
    for fn, expected in [
        (lambda: arr * v, arr * 3.0),
        (lambda: arr + v, arr + 3.0),
        (lambda: arr - v, arr - 3.0),
        (lambda: arr / v, arr / 3.0),
        (lambda: arr ** v, arr ** 3.0),
    ]:
        out = fn()
        assert isinstance(out, Value), f"got {type(out).__name__} (dtype {getattr(out, 'dtype', None)})"
        assert out.is_lanes
        np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    out = arr * v
    out.backward(np.ones_like(out.data))
    assert v.grad == pytest.approx(arr.sum())  # a scalar parameter gets the sum over lanes


def test_numpy_scalar_on_the_left_gives_a_scalar_value():
    v = Value(3.0)
    for left in (np.float64(2.0), np.float32(2.0), np.int64(2)):
        out = left * v
        assert isinstance(out, Value) and not out.is_lanes and out.data == 6.0


def test_lane_values_with_operators_match_numpy():
    x = np.array([0.5, 1.5, 2.5])
    y = np.array([-1.0, 2.0, 0.25])
    a, b = Value(x), Value(y)
    np.testing.assert_allclose((a * b + a / b - b ** 2).data, x * y + x / y - y ** 2, rtol=1e-12)


def test_gradients_of_an_expression_through_operators_match_finite_differences(rng):
    def f(a, b, c):
        return (a * b + 3.0) / (c ** 2 + 1.0) - (-a) ** 3 + 2.0 ** b - 1.5 / c

    gradcheck(f, list(rng.uniform(0.5, 1.5, 3)))
    gradcheck(f, [rng.uniform(0.5, 1.5, 5) for _ in range(3)])


def test_registered_ops_are_methods():
    v = Value(0.4)
    for name in ("tanh", "relu", "exp", "log", "sigmoid"):
        out = getattr(v, name)()
        assert isinstance(out, Value) and out.op is ops.get(name)
    assert v.tanh().data == pytest.approx(math.tanh(0.4))
    assert v.add(2.0).data == pytest.approx(2.4)  # any op, by name, with the Value as first input
    assert "tanh" in dir(v)


def test_unknown_method_raises_attribute_error():
    v = Value(1.0)
    with pytest.raises(AttributeError, match="no_such_op"):
        v.no_such_op()
    assert not hasattr(v, "no_such_op")
    with pytest.raises(AttributeError, match="no_such_op"):
        ops.no_such_op  # noqa: B018


def test_ops_namespace_calls_every_op():
    a, b = Value(0.5), Value(2.0)
    assert ops.add(a, b).data == 2.5
    assert ops.pow(a, b).data == 0.25
    assert ops.tanh(a).data == pytest.approx(math.tanh(0.5))
    assert ops.lane_sum(Value(np.array([1.0, 2.0]))).data == 3.0
    with pytest.raises(TypeError, match="'tanh' takes 1 input"):
        ops.tanh(a, b)
    assert {"add", "sub", "neg", "mul", "div", "pow", "tanh", "relu", "exp", "log", "sigmoid",
            "lane_sum", "lane_mean"} <= set(dir(ops))


def test_op_is_a_frozen_attrs_class_with_validated_fields():
    op = Op(name="double", forward=lambda x: 2 * x, backward=lambda g, out, x: (2 * g,))
    assert op.arity == 1
    assert attrs.has(Op)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        op.name = "other"
    with pytest.raises(ValueError, match="not a name"):
        Op(name="not a name", forward=abs, backward=abs)
    with pytest.raises(ValueError, match="arity"):
        Op(name="x", forward=abs, backward=abs, arity=0)
    with pytest.raises(TypeError, match="backward"):
        Op(name="x", forward=abs, backward=3)


def test_item_and_repr():
    assert Value(2.5).item() == 2.5
    assert Value(np.array([4.0])).item() == 4.0
    with pytest.raises(ValueError, match="3 lanes"):
        Value(np.array([1.0, 2.0, 3.0])).item()
    assert "2.5" in repr(Value(2.5)) and "lanes=3" in repr(Value(np.zeros(3)))


def test_import_stays_light():
    code = ("import sys, microgradx; from microgradx import Value; (Value(1.0) * 2).tanh().backward(); "
            "print(sorted(m for m in ('sklearn', 'matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
