"""Run-time plugin registration (tests, notebooks): what tests/test_plugins.py does not already cover.

`register_plugin` / `unregister_plugin` / `plugin_registered`: the context manager undoes the
registration even when the block raises; installed ``v.NAME()`` methods and ``ops.NAME``
functions vanish with the op; duplicate names follow the same rules as installed plugins
(against the built-ins too); a plugin can come back after it was removed.
"""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np
import pytest

import microgradx
from microgradx import (
    DuplicateComponentError,
    Op,
    PluginLoadError,
    PluginWarning,
    Value,
    hookimpl,
    ops,
    plugin_registered,
    register_plugin,
    unregister_plugin,
)

cube = Op(name="cube_rt", doc="x ** 3", forward=lambda x: x * x * x, backward=lambda g, out, x: (3.0 * g * x * x,))


class Plugin:
    """Registers the given ops (and, optionally, a loss under a given name)."""

    def __init__(self, *ops_, loss_name=None, replace=False):
        self.ops, self.loss_name, self.replace = ops_, loss_name, replace

    @hookimpl
    def microgradx_register_ops(self, register):
        for op in self.ops:
            register(op, replace=self.replace)

    @hookimpl
    def microgradx_register_losses(self, register):
        if self.loss_name:
            register(type("MyLoss", (), {"task": "regression"}), name=self.loss_name)


def _names(registry):
    return [p.name for p in registry().plugins]


def test_the_context_manager_unregisters_even_when_the_block_raises(fresh_registry):
    with pytest.raises(RuntimeError, match="inside the block"), plugin_registered(Plugin(cube), name="rt-cube"):
        assert Value(2.0).cube_rt().data == 8.0
        raise RuntimeError("inside the block")
    assert "rt-cube" not in _names(fresh_registry)
    assert not hasattr(Value(2.0), "cube_rt")
    with plugin_registered(Plugin(cube), name="rt-cube"):  # the name is free again
        assert ops.cube_rt(Value(-1.0)).data == -1.0


def test_op_methods_and_functions_vanish_after_unregistering(fresh_registry):
    name = register_plugin(Plugin(cube), name="rt-cube")
    v = Value(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(v.cube_rt().data, [1.0, 8.0])  # looked up in the op table
    assert ops.cube_rt(v).data[1] == 8.0  # caches the function
    assert "cube_rt" in dir(ops)
    unregister_plugin(name)
    assert not hasattr(v, "cube_rt")
    assert not hasattr(ops, "cube_rt") and "cube_rt" not in dir(ops)
    with pytest.raises(AttributeError, match="cube_rt"):
        v.cube_rt()
    # a graph made before still back-propagates: it holds the Op itself, not its name
    x = Value(2.0)
    with plugin_registered(Plugin(cube), name="rt-cube-2"):
        y = x.cube_rt()
    y.backward()
    assert x.grad == 12.0


def test_a_method_taken_before_unregistering_keeps_the_op_it_was_taken_with(fresh_registry):
    with plugin_registered(Plugin(cube), name="rt-cube"):
        method = Value(2.0).cube_rt  # v.NAME is the op applied to v, held across the unregistration
    assert method().data == 8.0  # as a graph made before keeps its op
    with pytest.raises(AttributeError, match="cube_rt"):
        Value(2.0).cube_rt()


def test_duplicating_a_builtin_without_replace_is_a_conflict_that_unregistering_resolves(fresh_registry):
    fake_tanh = Op(name="tanh", forward=lambda x: x, backward=lambda g, out, x: (g,))
    with pytest.warns(PluginWarning, match=r"'tanh'.*activations.*rt-fake-tanh"):
        register_plugin(Plugin(fake_tanh), name="rt-fake-tanh")
    for use in (lambda: Value(0.5).tanh(), lambda: ops.tanh(Value(0.5))):
        with pytest.raises(DuplicateComponentError, match=r"built-in plugin 'activations'.*rt-fake-tanh"):
            use()
    assert (Value(1.0) * 2.0).data == 2.0  # every other op still works
    unregister_plugin("rt-fake-tanh")
    assert Value(0.5).tanh().data == pytest.approx(np.tanh(0.5))


def test_the_rules_are_the_same_for_other_component_kinds(fresh_registry):
    with pytest.warns(PluginWarning, match=r"loss 'mse'"):
        register_plugin(Plugin(loss_name="mse"), name="rt-mse")
    with pytest.raises(DuplicateComponentError, match="rt-mse"):
        fresh_registry().get("losses", "mse")
    unregister_plugin("rt-mse")
    assert fresh_registry().get("losses", "mse").__name__ == "MSE"
    with plugin_registered(Plugin(loss_name="my_loss"), name="rt-loss"):
        assert fresh_registry().get("losses", "my_loss").__name__ == "MyLoss"
    with pytest.raises(microgradx.UnknownComponentError, match="my_loss"):
        fresh_registry().get("losses", "my_loss")


def test_a_failed_registration_leaves_nothing_behind(fresh_registry, monkeypatch):
    monkeypatch.setenv("MICROGRADX_STRICT_PLUGINS", "1")
    before = _names(fresh_registry)
    with pytest.raises(PluginLoadError, match="tanh"), plugin_registered(Plugin(Op(
            name="tanh", forward=abs, backward=lambda g, out, x: (g,))), name="rt-dup"):
        pytest.fail("the block must not run")  # pragma: no cover
    assert _names(fresh_registry) == before
    assert Value(0.0).tanh().data == 0.0


def test_default_names_and_unknown_names(fresh_registry):
    plugin = Plugin(cube)
    name = register_plugin(plugin)
    assert name.startswith("Plugin-") and name in _names(fresh_registry)
    with pytest.raises(PluginLoadError, match="already registered"):
        register_plugin(Plugin(), name=name)
    unregister_plugin(name)
    with pytest.raises(microgradx.UnknownComponentError, match="no plugin named 'never-registered'"):
        unregister_plugin("never-registered")


def test_registering_while_other_threads_compute(fresh_registry):
    """Plugins come and go in one thread while others use the built-in ops: no errors, right results."""
    stop = threading.Event()
    errors: list = []

    def compute():
        x = Value(np.array([0.5, -1.0]))
        while not stop.is_set():
            try:
                y = (x * 2.0 + 1.0).tanh().exp()
                np.testing.assert_allclose(y.data, np.exp(np.tanh([2.0, -1.0])))
                ops.lane_sum(y).backward()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(f"{type(exc).__name__}: {exc}")
                return

    threads = [threading.Thread(target=compute) for _ in range(3)]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, also in the middle of a rebuild
    for t in threads:
        t.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no conflict warnings either
            for k in range(30):
                with plugin_registered(Plugin(cube), name=f"rt-churn-{k}"):
                    assert Value(3.0).cube_rt().data == 27.0
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old_interval)
    assert errors == []
