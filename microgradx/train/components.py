"""Building components from registered names, classes or objects, and the defaults the Trainer uses."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx.registry.core import SINGULAR, get_registry

#: Loss chosen from the dataset's task when no loss is given.
DEFAULT_LOSS = {"binary": "bce", "multiclass": "softmax_ce", "regression": "mse"}

#: Settings used for an optimizer registered under one of these names (given by name or
#: class), unless ``lr`` or ``optimizer_options`` say otherwise. With the Trainer's other
#: defaults (cosine schedule, 40 epochs, batch size 32) SGD reaches, at seed 0, 97.4% test
#: accuracy on breast_cancer, 100% on iris and 95.6% on digits (seeds 0-5: 97.4-99.1%,
#: 93-100% and 95-98%; measured when these defaults were chosen).
DEFAULT_OPTIMIZER_SETTINGS = {"sgd": {"lr": 0.05, "momentum": 0.9}, "adam": {"lr": 0.01}}


def component_name(kind: str, obj: Any) -> str:
    """The name ``obj``'s class is registered under in ``kind`` (else its ``name`` or class name)."""
    cls = obj if isinstance(obj, type) else type(obj)
    for name, component in get_registry().tables[kind].items():
        if component.obj is cls:
            return name
    return getattr(obj, "name", None) or cls.__name__


def build_component(registry: Any, kind: str, what: Any, options: Optional[dict]) -> Any:
    """A component from a registered name or a class (called with ``options``), or the object itself."""
    if isinstance(what, str):
        what = registry.get(kind, what)
        return what(**(options or {}))
    if isinstance(what, type):
        return what(**(options or {}))
    if options:
        raise ValueError(f"{SINGULAR[kind]}_options only apply to a {SINGULAR[kind]} given by name or class")
    return what


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
