"""Predictions and metrics of a model on examples: no gradient, so no backward pass."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx.collector import gc_paused
from microgradx.engine.value import Value
from microgradx.registry.core import ops


def model_outputs(model: Any, X: np.ndarray, mode: str = "lanes") -> list:
    """``model``'s outputs for the examples ``X`` (2-D), as lane Values, one per output unit.

    Eagerly, forward only: lane mode runs one graph over all of ``X``, scalar mode one graph per
    example, collected into lanes afterwards. (A compiled Trainer's predictions replay a
    compiled forward instead: `microgradx.train.steps.CompiledSteps.outputs`.)
    """
    with gc_paused():
        if mode == "lanes":
            return [Value(np.atleast_1d(np.asarray(o.data, dtype=np.float64))) for o in model(X)]
        rows = [[o.data for o in model(x.tolist())] for x in X]
        return [Value(np.array(col, dtype=np.float64)) for col in zip(*rows)]


def predictions(loss: Any, outputs: list, task: str) -> np.ndarray:
    """What ``outputs`` predict under ``loss``: labels for a classification task, else values.

    A regression loss (``mse``) on a binary task predicts label 1 where the output is above 1/2.
    """
    if task != "regression" and getattr(loss, "task", None) == "regression":
        return (np.asarray(outputs[0].data) > 0.5).astype(np.int64)
    return np.asarray(loss.predict(outputs))


def evaluate(model: Any, loss: Any, X: np.ndarray, y: np.ndarray, task: str, mode: str = "lanes",
             params: Optional[list] = None, with_loss: bool = True, outputs: Optional[list] = None) -> dict:
    """``{"loss": ..., "accuracy": ...}`` of ``model`` on the examples ``X`` with targets ``y``.

    ``loss`` includes the penalty on ``params`` when given; ``accuracy`` (a fraction) is
    left out for a regression task. ``outputs``: the model's outputs for ``X`` when already
    computed (lane Values), else they are computed here.
    """
    if outputs is None:
        outputs = model_outputs(model, X, mode)
    result = {}
    if with_loss:
        with gc_paused():
            result["loss"] = float(loss(outputs, y, params).data)
    if task != "regression":
        result["accuracy"] = float(np.mean(predictions(loss, outputs, task) == np.asarray(y)))
    return result


def penalty(loss_fn: Any, params: list) -> Optional[Value]:
    """The loss's parameter penalty alone (for scalar mode, where it is added once per batch).

    Uses the loss's ``penalty(params)`` when it has one; otherwise ``l2 * sum(p * p)`` from
    its ``l2`` setting (the convention of the bundled losses).
    """
    penalty = getattr(loss_fn, "penalty", None)
    if callable(penalty):
        return penalty(params)
    l2 = getattr(loss_fn, "l2", 0.0) or 0.0
    if l2 <= 0:
        return None

    return l2 * ops.dot(*params, *params)
