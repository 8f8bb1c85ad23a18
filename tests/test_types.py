"""microgradx.types at run time: the bundled components match the Protocols; Callback marks its hooks."""

from __future__ import annotations

import pytest

import microgradx
from microgradx import get_registry
from microgradx.train import Callback
from microgradx.types import Layer, Loss, Model, Optimizer


def test_the_bundled_components_match_the_protocols():
    registry = get_registry()
    for name in registry.names("losses"):
        assert isinstance(registry.get("losses", name)(), Loss), name
    params = [microgradx.Value(1.0)]
    for name in registry.names("optimizers"):
        assert isinstance(registry.get("optimizers", name)(params), Optimizer), name
    mlp = registry.get("layers", "MLP")(2, [3, 1], seed=0)
    assert isinstance(mlp, Layer) and isinstance(mlp, Model)
    assert not isinstance(object(), Optimizer)


def test_callback_methods_become_hooks_without_hookimpl_and_the_trainer_calls_them():
    from microgradx.train import Trainer

    class Recorder(Callback):
        def __init__(self) -> None:
            self.epochs: list[int] = []

        def microgradx_epoch_end(self, trainer, epoch, metrics):
            self.epochs.append(epoch)

        def helper(self):  # other methods are left alone
            return 1

    recorder = Recorder()
    Trainer(dataset="moons", hidden=(4,), epochs=3, callbacks=[recorder]).fit()
    assert recorder.epochs == [0, 1, 2]
    assert Recorder.microgradx_epoch_end.microgradx_impl["tryfirst"] is False


def test_callback_keeps_hookimpl_options_and_refuses_a_misspelled_hook():
    class First(Callback):
        @microgradx.hookimpl(tryfirst=True)
        def microgradx_train_start(self, trainer):
            pass

    assert First.microgradx_train_start.microgradx_impl["tryfirst"] is True
    with pytest.raises(TypeError, match=r"Typo.microgradx_epoch_ends is not a training-event hook \(did you mean "
                                        r"microgradx_epoch_end\?\)"):
        class Typo(Callback):
            def microgradx_epoch_ends(self, trainer, epoch, metrics):
                pass
    with pytest.raises(TypeError, match="microgradx_register_ops is not a training-event hook"):
        class Registers(Callback):
            def microgradx_register_ops(self, register):
                pass


def test_the_plugin_api_version_is_exported():
    assert microgradx.PLUGIN_API_VERSION == 1 and "PLUGIN_API_VERSION" in microgradx.__all__
