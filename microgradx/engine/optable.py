"""The op table: op name -> `Op`, the one mapping the engine reads to turn ``a + b`` into an op.

The registry fills it from the plugins (`microgradx.registry`); anomaly mode swaps its
entries for checked copies while it is on. The engine only reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional


class OpTable(dict):
    """The op table: op name -> `Op`. The engine reads it; the registry fills it.

    A plain dict with four things others set: ``loader``, called with a name that is not in
    the table (the registry loads the plugins on the first lookup, once, then answers or
    raises ``KeyError``); ``origins``, op name -> where it was registered (``"built-in plugin
    'arithmetic'"``), which error messages quote; ``visit``, the backward step that anomaly
    mode puts in while it is on (None: the plain step); and ``tracer``, which a compiled
    function puts in while it records (`microgradx.compiler.trace`): `apply` shows it every
    node made meanwhile (None: nobody records).
    """

    def __init__(self) -> None:
        super().__init__()
        self.loader: Optional[Callable[[str], Any]] = None
        self.origins: dict[str, str] = {}
        self.visit: Optional[Callable[[Any], None]] = None
        self.tracer: Optional[Any] = None

    def __missing__(self, name: str) -> Any:
        if self.loader is None:
            raise KeyError(name)
        return self.loader(name)

    def load(self) -> None:
        """Make sure the plugins' ops are in the table (the registry loads them on first use)."""
        if not self and self.loader is not None:
            try:
                self.loader("")
            except KeyError:
                pass

    def origin(self, op: Any) -> str:
        """Where the op of ``op``'s name was registered, for messages: ``"from built-in plugin 'arithmetic'"``."""
        where = self.origins.get(getattr(op, "name", None))
        return f"from {where}" if where else "(not a registered op)"


#: The op table of this process: ``OPS["add"]`` is the op behind ``+``.
OPS = OpTable()
