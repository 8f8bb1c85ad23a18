"""The engine's mistakes are loud: a bad backward, a bad forward, a bad Op, each named (issues 12 and 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import microgradx
from microgradx import Op, Value, hookimpl, ops


def _plugin(op):
    class Plugin:
        @hookimpl
        def microgradx_register_ops(self, register):
            register(op)

    return Plugin()


def test_a_backward_that_forgets_the_tuple_is_an_error_not_a_silently_wrong_gradient(fresh_registry):
    # the plugin author's bug from issue 14: `g * y` instead of `(g * y, g * x)`, on 2 lanes (= the arity)
    forgot = Op(name="forgot_tuple", arity=2, forward=lambda x, y: x * y, backward=lambda g, out, x, y: g * y)
    with microgradx.plugin_registered(_plugin(forgot), name="mgx-forgot"):
        x, y = Value(np.array([1.0, 2.0])), Value(np.array([3.0, 4.0]))
        out = ops.lane_sum(ops.forgot_tuple(x, y))
        with pytest.raises(TypeError, match=r"backward of op 'forgot_tuple' from plugin 'mgx-forgot'.*returned an "
                                            r"array of shape \(2,\) for 2 input\(s\); it must return a tuple"):
            out.backward()
        assert not x.grad.any() and not y.grad.any()  # nothing half-added
        # other lane counts: the same clear message, never "2 gradients for 1 inputs"
        z = Value(np.array([1.0, 2.0, 3.0]))
        with pytest.raises(TypeError, match=r"returned an array of shape \(3,\) for 2 input\(s\)"):
            ops.lane_sum(ops.forgot_tuple(z, z)).backward()
        with pytest.raises(TypeError, match=r"returned a float for 2 input\(s\)"):
            ops.forgot_tuple(Value(1.0), Value(2.0)).backward()


@pytest.mark.parametrize("grads, error, what", [
    ((1.0, 2.0, 3.0), ValueError, r"a tuple of 3 for 2 input"),
    ([1.0, 2.0], TypeError, r"a list for 2 input"),
    ((np.ones((2, 2)), 1.0), TypeError, r"gradient an array of shape \(2, 2\) for 3 lanes"),
    (("a", 1.0), TypeError, r"gradient a str"),
])
def test_only_a_tuple_of_one_float_lane_array_or_none_per_input_is_accepted(grads, error, what):
    op = Op(name="bad_grads", arity=2, forward=lambda x, y: x + y, backward=lambda g, out, x, y: grads)
    out = microgradx.engine.value.apply(op, Value(np.ones(3)), Value(1.0))
    with pytest.raises(error, match=what):
        out.backward(np.ones(3))


def test_the_right_tuple_still_sums_a_lane_gradient_into_a_float_input():
    op = Op(name="mix", arity=2, forward=lambda x, y: x * y, backward=lambda g, out, x, y: (g * y, g * x))
    x, w = Value(np.array([1.0, 2.0])), Value(3.0)
    ops.lane_sum(microgradx.engine.value.apply(op, x, w)).backward()
    assert x.grad.tolist() == [3.0, 3.0] and w.grad == 3.0  # d/dw of sum(x * w) = 1 + 2


def test_an_op_with_math_exp_on_lanes_is_named_with_its_plugin_and_how_to_fix_it(fresh_registry):
    mexp = Op(name="mexp", forward=lambda x: math.exp(x), backward=lambda g, out, x: (g * out,))
    with microgradx.plugin_registered(_plugin(mexp), name="mgx-mexp"):
        assert Value(0.0).mexp().data == 1.0  # floats are fine
        with pytest.raises(TypeError) as info:
            Value(np.array([0.0, 1.0])).mexp()
    msg = str(info.value)
    assert "in forward of op 'mexp' from plugin 'mgx-mexp'" in msg and "on lanes (2 of them)" in msg
    assert "not math.* functions" in msg and "lanewise" in msg
    assert isinstance(info.value.__cause__, TypeError)  # the original error is kept


def test_a_forward_returning_the_wrong_kind_is_named():
    op = Op(name="listy", forward=lambda x: [x], backward=lambda g, out, x: (g,))
    with pytest.raises(TypeError, match=r"op 'listy' .*forward returned list for floats"):
        microgradx.engine.value.apply(op, Value(1.0))
    two_d = Op(name="twod", forward=lambda x: np.ones((2, 2)), backward=lambda g, out, x: (g,))
    with pytest.raises(TypeError, match=r"forward returned ndarray of shape \(2, 2\)"):
        microgradx.engine.value.apply(two_d, Value(np.ones(2)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="mul2", forward=lambda x, y: x * y, backward=lambda g, out, x, y: (g * y, g * x)),
     r"Op 'mul2': forward\(x, y\) cannot take 1 input\(s\) \(arity=1\)"),
    (dict(name="neg2", forward=lambda x: -x, backward=lambda g, x: (-g,)),
     r"Op 'neg2': backward\(g, x\) cannot take grad, out and 1 input\(s\)"),
    (dict(name="var", arity=None, forward=lambda x, y: x + y, backward=lambda g, out, *xs: (g,) * len(xs)),
     r"forward\(x, y\) cannot take any number of inputs"),
    (dict(name="chk", forward=lambda x: x, backward=lambda g, out, x: (g,), check=lambda: None),
     r"check\(\) cannot take 1 input"),
])
def test_op_checks_its_functions_signatures_against_its_arity(kwargs, message):
    with pytest.raises(TypeError, match=message):
        Op(**kwargs)


def test_builtins_without_a_signature_and_star_args_are_accepted():
    assert Op(name="fine", forward=abs, backward=lambda g, out, *xs: (g,)).arity == 1


def test_learner_papercuts():
    v = Value(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"v.lane_sum\(\)"):
        v.sum()
    assert v.sum(Value(1.0)).data.tolist() == [2.0, 3.0]  # with others: lane by lane
    assert float(Value(2.5)) == 2.5 and float(Value(np.array([4.0]))) == 4.0
    with pytest.raises(ValueError, match="2 lanes"):
        float(v)
    a = Value(-3.0)
    b = abs(a)
    b.backward()
    assert b.data == 3.0 and a.grad == -1.0
    with pytest.raises(TypeError, match="not a Value: use that Value itself"):
        Value(Value(2.0))


def test_a_forward_returning_lanes_that_do_not_match_its_inputs_is_named(fresh_registry):
    """Issue 20: numpy broadcasting hid an op that returned the wrong number of lanes (or lanes for floats)."""
    wrong_length = Op(name="wrong_length", forward=lambda x: np.zeros(3) if isinstance(x, np.ndarray) else x,
                      backward=lambda g, out, x: (g,))
    lanes_for_floats = Op(name="lanes_for_floats", forward=lambda x: np.array([x, x]), backward=lambda g, out, x: (g,))
    with microgradx.plugin_registered(_plugin(wrong_length), name="mgx-wrong"):
        with pytest.raises(ValueError, match=r"op 'wrong_length' from plugin 'mgx-wrong'.*: forward returned 3 "
                                             r"lanes for lanes \(2 of them\)"):
            ops.wrong_length(Value(np.array([1.0, 2.0])))
    with microgradx.plugin_registered(_plugin(lanes_for_floats), name="mgx-wrong"):
        with pytest.raises(ValueError, match=r"op 'lanes_for_floats' .*forward returned 2 lanes for floats"):
            ops.lanes_for_floats(Value(1.0))
        compiled = microgradx.compile(lambda xs: ops.lanes_for_floats(xs[0]), lanes=False)
        with pytest.raises(ValueError, match="forward returned 2 lanes for floats"):  # refused while recording too
            compiled(np.array([1.0]))


@pytest.mark.parametrize("counts", [(1, 3), (2, 3)])
def test_inputs_of_different_lane_counts_are_the_users_mistake_eager_and_compiled(counts):
    """Issue 20: 1 lane against 3 was broadcast eagerly; 2 against 3 blamed the op ('in forward of op add ...')."""
    a, b = Value(np.ones(counts[0])), Value(np.ones(counts[1]))
    message = rf"op 'add' was given inputs of {counts[0]} and {counts[1]} lanes; the lane Values one op combines"
    with pytest.raises(ValueError, match=message) as eager:
        a + b
    assert "in forward of op" not in str(eager.value)
    compiled = microgradx.compile(lambda x: (x + a).lane_sum())
    with pytest.raises(ValueError, match=rf"op 'add' was given inputs of {min(counts[0], 3)} and"):
        compiled(np.ones(3) if counts[0] != 3 else np.ones(2))


def test_repr_of_a_value_whose_grad_no_longer_fits_its_lanes_shows_both():
    """Issue 20: a repr raised numpy's broadcast error, hiding the compiler's own clear message."""
    v = Value(np.array([1.0, 2.0, 3.0]))
    v.grad = np.ones(2)
    assert repr(v) == "Value(lanes=3, data=[1. 2. 3.], grad=[1. 1.] (shape (2,), not (3,)))"
    assert repr(v * 2.0) == "Value(lanes=3, data=[2. 4. 6.], grad=[0. 0. 0.])"  # an op output's grad 0.0 broadcasts
