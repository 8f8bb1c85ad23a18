"""Run-time plugin registration (tests, notebooks): what tests/test_plugins.py does not already cover.

`register_plugin` / `unregister_plugin` / `plugin_registered`: the context manager undoes the
registration even when the block raises; installed ``v.NAME()`` methods and ``ops.NAME``
functions vanish with the op; duplicate names follow the same rules as installed plugins
(a clash with a built-in skips the plugin's component); a plugin can come back after it was removed.
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


def test_duplicating_a_builtin_without_replace_skips_it_and_the_builtin_keeps_working(fresh_registry):
    fake_tanh = Op(name="tanh", forward=lambda x: x, backward=lambda g, out, x: (g,))
    with pytest.warns(PluginWarning, match=r"op 'tanh' of plugin 'rt-fake-tanh' \(registered at run time\) was "
                                           r"skipped: the name is the built-in op of built-in plugin 'activations'"):
        register_plugin(Plugin(fake_tanh, cube), name="rt-fake-tanh")
    for use in (lambda: Value(0.5).tanh(), lambda: ops.tanh(Value(0.5))):
        assert use().data == pytest.approx(np.tanh(0.5))  # the built-in, not the fake
    assert Value(2.0).cube_rt().data == 8.0  # the plugin's other op works
    info = fresh_registry().plugin("rt-fake-tanh")
    assert [c.name for c in info.components] == ["cube_rt"] and ("ops", "tanh") in info.skipped
    unregister_plugin("rt-fake-tanh")
    assert Value(0.5).tanh().data == pytest.approx(np.tanh(0.5))


def test_the_rules_are_the_same_for_other_component_kinds(fresh_registry):
    with pytest.warns(PluginWarning, match=r"loss 'mse' of plugin 'rt-mse'.*was skipped"):
        register_plugin(Plugin(loss_name="mse"), name="rt-mse")
    assert fresh_registry().get("losses", "mse").__name__ == "MSE"  # the built-in keeps the name
    unregister_plugin("rt-mse")
    with plugin_registered(Plugin(loss_name="my_loss"), name="rt-loss"):
        assert fresh_registry().get("losses", "my_loss").__name__ == "MyLoss"
        with pytest.warns(PluginWarning, match=r"loss 'my_loss' is registered by both plugin 'rt-loss'.*rt-loss-2"):
            register_plugin(Plugin(loss_name="my_loss"), name="rt-loss-2")
        with pytest.raises(DuplicateComponentError, match=r"rt-loss.*rt-loss-2"):
            fresh_registry().get("losses", "my_loss")
        unregister_plugin("rt-loss-2")
    with pytest.raises(microgradx.UnknownComponentError, match="my_loss"):
        fresh_registry().get("losses", "my_loss")


def test_a_failed_registration_leaves_nothing_behind(fresh_registry, monkeypatch):
    monkeypatch.setenv("MICROGRADX_STRICT_PLUGINS", "1")
    before = _names(fresh_registry)
    fake_tanh = Op(name="tanh", forward=lambda x: x, backward=lambda g, out, x: (g,))
    with pytest.raises(PluginLoadError, match="tanh"), plugin_registered(Plugin(fake_tanh), name="rt-dup"):
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


# -- the rules of issue 14 (items 3-6), in process ------------------------------------------------


def test_a_failing_hook_keeps_its_exception_as_the_cause(fresh_registry):
    class Raises:
        @hookimpl
        def microgradx_register_ops(self, register):
            {}["missing key"]  # the bug

    with pytest.raises(PluginLoadError, match=r"hook microgradx_register_ops failed: KeyError: 'missing key' "
                                              r"\(raised at .*test_runtime_plugins.py:\d+, in microgradx_register_ops\)"
                       ) as info:
        register_plugin(Raises(), name="rt-raises")
    assert isinstance(info.value.__cause__, KeyError) and info.value.plugins == ("rt-raises",)


def test_hook_functions_without_hookimpl_warn_at_run_time(fresh_registry):
    class Unmarked:
        def microgradx_register_ops(self, register):
            register(cube)

        def microgradx_helper(self):
            """Not a hook at all, but named like one."""

    with pytest.warns(PluginWarning, match=r"function\(s\) microgradx_helper, microgradx_register_ops are named like "
                                           r"hooks but not marked @microgradx.hookimpl.*it registers nothing"):
        register_plugin(Unmarked(), name="rt-unmarked")
    assert "cube_rt" not in fresh_registry().names("ops")
    assert fresh_registry().plugin("rt-unmarked").unmarked == ["microgradx_helper", "microgradx_register_ops"]


def test_two_replacers_at_run_time_make_the_name_unusable_until_one_goes(fresh_registry):
    triple = Op(name="tanh", forward=lambda x: 3.0 * x, backward=lambda g, out, x: (3.0 * g,))
    double = Op(name="tanh", forward=lambda x: 2.0 * x, backward=lambda g, out, x: (2.0 * g,))
    with pytest.warns(PluginWarning, match="replaces the built-in op 'tanh'"):
        register_plugin(Plugin(triple, replace=True), name="rt-triple")
    with pytest.warns(PluginWarning, match=r"op 'tanh' is replaced .* by both plugin 'rt-triple'.*rt-double"):
        register_plugin(Plugin(double, replace=True), name="rt-double")
    with pytest.raises(DuplicateComponentError, match=r"rt-triple.*rt-double"):
        Value(1.0).tanh()
    info = fresh_registry().plugin("activations")
    assert info.replaced_by[("ops", "tanh")] == "rt-triple and rt-double"
    with pytest.warns(PluginWarning, match="rt-double.*replaces the built-in op 'tanh'"):
        unregister_plugin("rt-triple")  # now rt-double's replacement takes effect, and is said
    assert Value(1.0).tanh().data == 2.0


def test_a_replacer_wins_over_the_builtin_and_a_plain_registration(fresh_registry):
    plain = Op(name="relu", forward=lambda x: x, backward=lambda g, out, x: (g,))
    replacement = Op(name="relu", forward=lambda x: x + 100.0, backward=lambda g, out, x: (g,))
    with pytest.warns(PluginWarning, match="was skipped: the name is the built-in op"):
        register_plugin(Plugin(plain), name="rt-plain-relu")
    with pytest.warns(PluginWarning, match="replaces the built-in op 'relu'"):
        register_plugin(Plugin(replacement, replace=True), name="rt-replace-relu")
    assert Value(1.0).relu().data == 101.0
    assert fresh_registry().component("ops", "relu").replaced == ("activations", "rt-plain-relu")
    assert fresh_registry().plugin("rt-plain-relu").replaced_by == {("ops", "relu"): "rt-replace-relu"}


def test_registering_a_plugin_runs_no_other_plugins_hooks_again(fresh_registry):
    class Counting(Plugin):
        calls = 0

        @hookimpl
        def microgradx_register_ops(self, register):
            type(self).calls += 1
            super().microgradx_register_ops(register)

    register_plugin(Counting(cube), name="rt-counting")
    with plugin_registered(Plugin(), name="rt-other"), plugin_registered(Plugin(), name="rt-third"):
        assert Value(2.0).cube_rt().data == 8.0
    assert Counting.calls == 1
