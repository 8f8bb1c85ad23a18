"""The defaults the Trainer uses and the checks of its settings.

Building components from registered names (``"adam:beta1=0.8"``) is the registry's:
`microgradx.registry.components`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Loss chosen from the dataset's task when no loss is given.
DEFAULT_LOSS = {"binary": "bce", "multiclass": "softmax_ce", "regression": "mse"}

#: Settings used for an optimizer registered under one of these names (given by name or
#: class), unless ``lr`` or ``optimizer_options`` say otherwise. With the Trainer's other
#: defaults (cosine schedule, 40 epochs, batch size 32) SGD reaches, at seed 0, 97.4% test
#: accuracy on breast_cancer, 100% on iris and 95.6% on digits (seeds 0-5: 97.4-99.1%,
#: 93-100% and 95-98%; measured when these defaults were chosen).
DEFAULT_OPTIMIZER_SETTINGS = {"sgd": {"lr": 0.05, "momentum": 0.9}, "adam": {"lr": 0.01}}


def check_int(name: str, value: Any) -> int:
    """``value`` as an int; TypeError naming the setting for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1; an error naming the setting otherwise."""
    value = check_int(name, value)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def check_sample_weight(weights: Any, n: int) -> np.ndarray:
    """Check per-example training weights: ``n`` finite numbers >= 0, not all 0."""
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"sample_weight must be numbers, one per training example, got {weights!r:.80}") from None
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have one number per training example ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("sample_weight must be finite numbers >= 0")
    if w.sum() <= 0:
        raise ValueError("sample_weight sums to 0: at least one example needs a positive weight")
    return w


def outputs_for(loss: Any, dataset: Any) -> int:
    """The number of model outputs the loss needs for this dataset; an error if they don't fit."""
    ds, task = dataset, getattr(loss, "task", None)
    name = getattr(loss, "name", type(loss).__name__)
    n_classes = getattr(ds, "n_classes", None) or 0
    kind = f"is for {task} tasks" if task else "does not say its task (no 'task' attribute)"
    if ds.task == "multiclass":
        if task != "multiclass":
            raise ValueError(f"loss {name!r} {kind} but dataset {ds.name!r} has {n_classes} "
                             f"classes; use a multiclass loss such as 'softmax_ce'")
        return n_classes
    if ds.task == "binary":
        if task == "multiclass":
            return 2
        return 1
    if task != "regression":
        raise ValueError(f"loss {name!r} {kind} but dataset {ds.name!r} is a regression task; "
                         f"use a regression loss such as 'mse'")
    return 1
