"""The ``grad_norm`` training callback: watch the size of the gradient, step by step.

A callback is a plugin object: its methods are training-event hooks marked with
``@microgradx.hookimpl``. The trainer registers the instance with the plugin manager
for one run and unregisters it afterwards. microgradx's trainer already stops on a
non-finite *loss*; this callback sees the *gradient* the optimizer is about to use,
which explodes (or turns to nan in one parameter) before the loss shows it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import attrs
import numpy as np
from microgradx import hookimpl

from ._validators import number


def _optional_positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:
        number(0.0, low_open=True)(instance, attribute, value)


@attrs.define(eq=False)
class GradNorm:
    """Record the L2 norm of the parameters' gradient after every step.

    * ``norms``: one entry per optimizer step of the run (reset when a run starts);
    * each epoch's mean norm is added to that epoch's metrics as ``grad_norm`` (this
      hook runs first, so the ``log`` callback records it and ``early_stopping`` or
      ``checkpoint`` can monitor it);
    * ``max_norm``: when set, a norm above it, or a nan/inf gradient, warns and ends
      training after the current epoch; ``tripped`` is then ``(epoch, batch, norm)``.
    """

    max_norm: float | None = attrs.field(default=None, validator=_optional_positive)
    norms: list = attrs.field(factory=list, init=False)
    tripped: tuple | None = attrs.field(default=None, init=False)
    _epoch_norms: list = attrs.field(factory=list, init=False, repr=False)

    @hookimpl
    def microgradx_train_start(self, trainer: Any) -> None:
        """Forget a previous run."""
        self.norms, self._epoch_norms, self.tripped = [], [], None

    @hookimpl
    def microgradx_batch_end(self, trainer: Any, epoch: int, batch: int, loss: float) -> None:
        """Measure the gradient of the step that just finished."""
        params = getattr(trainer, "params", None) or trainer.model.parameters()
        grads = np.fromiter((p.grad for p in params), dtype=np.float64, count=len(params))
        with np.errstate(all="ignore"):
            norm = float(np.linalg.norm(grads))
        self.norms.append(norm)
        self._epoch_norms.append(norm)
        too_big = not math.isfinite(norm) or (self.max_norm is not None and norm > self.max_norm)
        if too_big and self.max_norm is not None and self.tripped is None:
            self.tripped = (epoch, batch, norm)
            warnings.warn(f"grad_norm: gradient norm {norm:.4g} exceeds max_norm={self.max_norm:g} at epoch "
                          f"{epoch}, batch {batch}; training stops after this epoch (try a smaller lr)",
                          RuntimeWarning, stacklevel=2)
            trainer.should_stop = True

    @hookimpl(tryfirst=True)
    def microgradx_epoch_end(self, trainer: Any, epoch: int, metrics: dict) -> None:
        """Add the epoch's mean gradient norm to ``metrics`` as ``grad_norm``."""
        if self._epoch_norms:
            metrics["grad_norm"] = float(np.mean(self._epoch_norms))
        self._epoch_norms = []
