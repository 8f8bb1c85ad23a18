"""Anomaly mode: the first NaN or inf in forward or backward is a FloatingPointError that says where it came from."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

import microgradx
from microgradx import Op, Value, detect_anomaly, hookimpl, is_anomaly_enabled, ops
from microgradx.datasets import Dataset
from microgradx.engine import autograd
from microgradx.engine.optable import OPS
from microgradx.train import Trainer


@pytest.fixture(autouse=True)
def _anomaly_mode_is_off_around_each_test():
    assert not is_anomaly_enabled()
    yield
    assert not is_anomaly_enabled(), "a test left anomaly mode on"
    assert OPS.visit is None and not hasattr(OPS["add"].forward, "plain_op")


def _message(excinfo) -> str:
    return str(excinfo.value)


# -- forward --------------------------------------------------------------------------------------


def test_forward_nan_names_the_op_its_plugin_the_inputs_and_the_line():
    a = Value(np.inf)
    with detect_anomaly():
        b = Value(2.0) * 3.0  # fine
        with pytest.raises(FloatingPointError) as info:
            a - np.inf  # the line the message must point at
    msg = _message(info)
    assert "op 'sub' (from built-in plugin 'arithmetic') produced nan in forward" in msg
    assert "input 0: inf" in msg and "input 1: inf" in msg
    assert "already not finite on input: a leaf Value" in msg  # a was inf before it reached sub
    assert __file__ in msg and "a - np.inf  # the line the message must point at" in msg
    assert b.data == 6.0


def test_forward_inf_in_lane_mode_names_the_lane_and_that_lanes_inputs():
    x = Value(np.array([1.0, 2.0, 900.0, 3.0]))
    w = Value(0.5)
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        (x * w + 300.0).exp()
    msg = _message(info)
    assert "op 'exp' (from built-in plugin 'activations') produced inf in forward (lane 2 of 4)" in msg
    assert "input 0: 750.0" in msg  # lane 2's input, not the whole array
    assert "(x * w + 300.0).exp()" in msg


def test_outside_anomaly_mode_nothing_is_checked():
    a = Value(np.inf)
    c = a - np.inf  # NaN, silently: IEEE
    assert np.isnan(c.data)
    with detect_anomaly():
        d = Value(1.0) + 1.0
        assert d.op is OPS["add"] and d.op.forward.plain_op is not None  # made by the checked copy
    after = Value(1.0) + 1.0
    assert after.op is not d.op and not hasattr(after.op.forward, "plain_op")  # made by the plain op again


def test_anomaly_mode_swaps_data_and_the_plain_code_has_no_check():
    """No per-node cost when off: the op table holds the plain ops and the driver's plain step has no test."""
    plain_add = OPS["add"]
    with detect_anomaly():
        assert OPS["add"] is not plain_add and OPS["add"].forward.plain_op is plain_add
        assert OPS.visit is not None
    assert OPS["add"] is plain_add and OPS.visit is None
    names = autograd.visit_node.__code__.co_names + autograd.local_gradients.__code__.co_names
    assert "anomaly" not in " ".join(names) and "visit" not in autograd.visit_node.__code__.co_names


def test_a_node_made_before_anomaly_mode_says_so():
    h = Value(np.inf) * 0.0  # NaN, made outside
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        h + 1.0
    assert "a leaf Value, or a node made before anomaly mode was on" in _message(info)


@pytest.mark.parametrize("mode", ["lanes", "scalar"])
def test_the_layers_are_checked(mode):
    """Layers make their nodes through the op table: a NaN weight is caught at the dot."""
    mlp = microgradx.get_registry().get("layers", "MLP")(3, [4, 2], seed=0)
    mlp.parameters()[5].data = float("nan")
    x = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, 1.0]])
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        mlp(x if mode == "lanes" else x[0].tolist())
    msg = _message(info)
    assert "op 'dot' (from built-in plugin 'fused') produced nan in forward" in msg
    assert "<- already not finite on input: a leaf Value" in msg
    assert "mlp(x if mode" in msg  # the user's line, not the layer's internals


# -- backward -------------------------------------------------------------------------------------


def test_backward_inf_gradient_names_the_op_the_input_and_where_the_node_was_made():
    with detect_anomaly():
        a = Value(np.array([4.0, 0.0, 1.0]))
        root = ops.lane_sum(a ** 0.5)  # d/da sqrt(a) = inf at a == 0
        with pytest.raises(FloatingPointError) as info:
            root.backward()
    msg = _message(info)
    assert ("backward of op 'pow' (from built-in plugin 'arithmetic') produced inf as the gradient of "
            "input 0 (lane 1 of 3)") in msg
    assert "input 0: 0.0" in msg and "input 1" not in msg  # the number exponent is part of the op, not an input
    assert "root = ops.lane_sum(a ** 0.5)" in msg


def test_backward_overflow_when_accumulating_is_caught():
    with detect_anomaly():
        a, c = Value(1e-300), Value(1e308)
        out = c * a + c * a  # finite (2e8); each gradient of a is 1e308 and their sum overflows
        with pytest.raises(FloatingPointError) as info:
            out.backward()
    msg = _message(info)
    assert "became inf when accumulated" in msg and "op 'mul'" in msg and "held 1e+308" in msg


def test_backward_with_a_non_finite_seed():
    with detect_anomaly():
        y = Value(2.0) * 3.0
        with pytest.raises(FloatingPointError, match=r"op 'mul'.*non-finite gradient nan.*seed"):
            y.backward(float("nan"))


def test_backward_of_a_graph_made_outside_is_checked_without_creation_sites():
    a = Value(0.0)
    root = a ** 0.5
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        root.backward()
    assert "node made before anomaly mode was on: no record of where" in _message(info)


def test_results_are_unchanged_by_anomaly_mode(rng):
    x, w = rng.normal(size=5), 0.7

    def run():
        vx, vw = Value(x), Value(w)
        loss = ops.lane_mean(((vx * vw).tanh() ** 2 + (vx * vx + 1.0).log()).sigmoid() * vw.exp())
        loss.backward()
        return loss.data, vw.grad, vx.grad.copy()

    plain = run()
    with detect_anomaly():
        checked = run()
    assert plain[0] == checked[0] and plain[1] == checked[1]
    np.testing.assert_array_equal(plain[2], checked[2])


# -- which op and plugin ---------------------------------------------------------------------------


def test_a_plugin_op_is_named_with_its_plugin(fresh_registry):
    bad = Op(name="bad_sqrt", forward=lambda x: x ** 0.5 if x >= 0 else float("nan"),
             backward=lambda g, out, x: (g * 0.5 / out,))

    class Plugin:
        @hookimpl
        def microgradx_register_ops(self, register):
            register(bad)

    with microgradx.plugin_registered(Plugin(), name="rt-bad-sqrt"), detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"op 'bad_sqrt' \(from plugin 'rt-bad-sqrt' \("):
            Value(-1.0).bad_sqrt()
        # an Op applied directly, not through the op table, is checked in backward only
        unregistered = Op(name="my_sqrt", forward=bad.forward, backward=lambda g, out, x: (g * math.inf,))
        out = microgradx.engine.value.apply(unregistered, Value(4.0))
        with pytest.raises(FloatingPointError, match=r"backward of op 'my_sqrt' \(\(not a registered op\)\)"):
            out.backward()


def test_other_errors_pass_through_unchanged():
    with detect_anomaly():
        with pytest.raises(ZeroDivisionError, match="'div'"):
            Value(1.0) / 0.0
        with pytest.raises(TypeError, match="str"):
            Value(1.0) + "x"


# -- switching: nesting, exceptions, decorators, threads -----------------------------------------


def test_nested_blocks_keep_it_on_until_the_outermost_ends():
    with detect_anomaly():
        with detect_anomaly():
            assert is_anomaly_enabled()
        assert is_anomaly_enabled()
        with pytest.raises(FloatingPointError):
            Value(np.inf) * 0.0
    assert not is_anomaly_enabled()


def test_an_exception_inside_the_block_turns_it_off():
    with pytest.raises(KeyError), detect_anomaly():
        raise KeyError("boom")
    assert not is_anomaly_enabled()


def test_as_a_decorator():
    @detect_anomaly()
    def f(x):
        assert is_anomaly_enabled()
        return Value(x).exp()

    with pytest.raises(FloatingPointError):
        f(1000.0)
    assert not is_anomaly_enabled()
    assert f(0.0).data == 1.0


def test_it_is_process_wide_while_any_thread_is_inside():
    entered, release = threading.Event(), threading.Event()

    def other_thread():
        with detect_anomaly():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=other_thread)
    t.start()
    try:
        assert entered.wait(10)
        assert is_anomaly_enabled()
        with pytest.raises(FloatingPointError):  # this thread never entered a block
            Value(np.inf) - np.inf
        with detect_anomaly():  # overlapping blocks in two threads: counted, not toggled
            pass
        assert is_anomaly_enabled()
    finally:
        release.set()
        t.join()
    assert not is_anomaly_enabled()
    assert np.isnan((Value(np.inf) - np.inf).data)


# -- the Trainer option ---------------------------------------------------------------------------


def _blobs(n=24, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 3)) + 2.0 * y[:, None]
    return Dataset(name="blobs", X_train=X[:16], y_train=y[:16], X_test=X[16:], y_test=y[16:], task="binary",
                   n_classes=2)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings in lane mode
@pytest.mark.parametrize("mode", ["lanes", "scalar"])
def test_trainer_detect_anomaly_names_the_op_where_the_plain_run_only_sees_the_loss(mode):
    settings = dict(dataset=_blobs(), epochs=3, batch_size=8, lr=1e200, optimizer="sgd", hidden=(4,),
                    activation="relu", mode=mode, schedule=None)  # the weights overflow after one step
    with pytest.raises(FloatingPointError) as plain:
        Trainer(**settings).fit()
    assert "the loss became" in str(plain.value)  # the plain run only notices at the end
    with pytest.raises(FloatingPointError) as info:
        Trainer(**settings, detect_anomaly=True).fit()
    msg = str(info.value)
    assert "the loss became" not in msg
    assert "op 'dot' (from built-in plugin 'fused') produced" in msg and "inf in forward" in msg
    assert "Trainer(**settings, detect_anomaly=True).fit()" in msg  # the user's line
    assert not is_anomaly_enabled()


def test_trainer_detect_anomaly_gives_the_same_history():
    settings = dict(dataset=_blobs(), epochs=2, batch_size=8, hidden=(4,), seed=3)
    plain = Trainer(**settings).fit()
    checked = Trainer(**settings, detect_anomaly=True).fit()
    assert plain.loss == checked.loss and plain.test_accuracy == checked.test_accuracy
    assert Trainer(**settings).detect_anomaly is False


def test_the_module_docstring_example_runs():
    import doctest

    from microgradx.engine import anomaly

    result = doctest.testmod(anomaly, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0
