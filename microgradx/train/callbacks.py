"""`Callback`: the base class of training callbacks, whose methods are training-event hooks.

    >>> from microgradx.train import Callback
    >>> class PrintLoss(Callback):
    ...     def microgradx_epoch_end(self, trainer, epoch, metrics):
    ...         print(epoch, metrics["loss"])
"""

from __future__ import annotations

import difflib
from typing import Any

from microgradx.registry import hookspecs
from microgradx.registry.discovery import hookimpl

__all__ = ["Callback"]


def _event_hooks() -> list[str]:
    return sorted(n for n, f in vars(hookspecs).items()
                  if n.startswith("microgradx_") and not n.startswith("microgradx_register_")
                  and hasattr(f, "microgradx_spec"))


class Callback:
    """Base class for training callbacks: training-event hooks as plain methods, no ``@hookimpl`` needed.

        class PrintLoss(Callback):
            def microgradx_epoch_end(self, trainer, epoch, metrics):
                print(epoch, metrics["loss"])

    Methods named like a training-event hook (``microgradx_train_start``,
    ``microgradx_batch_end``, ``microgradx_epoch_end``, ``microgradx_train_end``) are marked as
    hook implementations when the class is defined (``@hookimpl(tryfirst=True)`` still works
    for options); any other ``microgradx_*`` method name raises `TypeError` there, naming the
    closest hook, so a misspelling cannot go unnoticed.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks = _event_hooks()
        for name, attr in list(vars(cls).items()):
            if not name.startswith("microgradx_") or not callable(attr):
                continue
            if name not in hooks:
                close = difflib.get_close_matches(name, hooks, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise TypeError(f"{cls.__name__}.{name} is not a training-event hook{hint}; "
                                f"training-event hooks: {', '.join(hooks)}")
            if not hasattr(attr, "microgradx_impl"):
                hookimpl(attr)
