"""The `Op`: one differentiable function, its derivative written next to it.

An op is data, not a subclass: a frozen attrs record of a name, an arity, a
`forward` and a `backward`. The core never knows any particular op; plugins
register them (see `microgradx.registry.hookspecs.microgradx_register_ops`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import attrs

#: `arity` value for an op that takes any number (one or more) of inputs.
VARIADIC = None


def _check_arity(instance: Op, attribute: attrs.Attribute, value: Optional[int]) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"Op {instance.name!r}: arity must be a positive int or None (variadic), got {value!r}")


def _check_name(instance: Op, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not value.isidentifier() or value.startswith("_"):
        raise ValueError(
            "Op name must be a Python identifier not starting with '_' (it becomes ops.NAME and v.NAME()), "
            f"got {value!r}"
        )


def _check_callable(instance: Op, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(
            f"Op {getattr(instance, 'name', '?')!r}: {attribute.name} must be callable, got {type(value).__name__}"
        )
    if value is None and attribute.name in ("forward", "backward"):
        raise TypeError(f"Op {getattr(instance, 'name', '?')!r}: {attribute.name} is required")


@attrs.frozen(slots=True, repr=False)
class Op:
    """A differentiable function of one or more scalars.

    Attributes:
        name: the name the op is registered and called by (``ops.NAME``, ``v.NAME()``).
        forward: ``forward(*xs) -> y``. Each ``x`` is a float or a 1-D float64 numpy
            array of lanes; write it with operators and numpy-aware helpers so the
            same code serves both. Must not modify its inputs.
        backward: ``backward(grad, out, *xs) -> tuple`` with one gradient per input,
            ``grad * d(out)/d(x_i)``, or ``None`` for an input that takes no gradient.
            ``grad`` and ``out`` are the output's gradient and value.
        arity: the number of inputs, or ``None`` for a variadic op (one or more).
        check: optional domain check, ``check(*xs)``, raising ``ValueError`` that names
            the op and the offending value before ``forward`` runs.
        doc: one line saying what the op computes; shown by ``microgradx plugins``.
        reduces_lanes: True for a lane reduction (``lane_sum``, ``lane_mean``): lanes in,
            one float out. Every other op maps each lane independently.
    """

    name: str = attrs.field(validator=_check_name)
    forward: Callable[..., Any] = attrs.field(validator=_check_callable)
    backward: Callable[..., tuple] = attrs.field(validator=_check_callable)
    arity: Optional[int] = attrs.field(default=1, validator=_check_arity)
    check: Optional[Callable[..., None]] = attrs.field(default=None, validator=_check_callable)
    doc: str = ""
    reduces_lanes: bool = False

    def __repr__(self) -> str:
        arity = "variadic" if self.arity is None else self.arity
        return f"Op({self.name!r}, arity={arity})"


class OpTable(dict):
    """The op table: op name -> `Op`. The engine reads it; the registry fills it.

    A plain dict, with two things the registry sets: ``loader``, called with a name that is
    not in the table (the first lookup loads the plugins, once, and returns the op or raises
    ``KeyError``), and ``origins``, op name -> where it was registered (``"built-in plugin
    'arithmetic'"``), which error messages quote.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loader: Optional[Callable[[str], Op]] = None
        self.origins: dict[str, str] = {}

    def __missing__(self, name: str) -> Op:
        if self.loader is None:
            raise KeyError(name)
        return self.loader(name)

    def origin(self, op: Any) -> str:
        """Where ``op`` was registered, for messages: ``"from built-in plugin 'arithmetic'"``."""
        where = self.origins.get(getattr(op, "name", None)) if dict.get(self, getattr(op, "name", None)) is op else None
        return f"from {where}" if where else "(not a registered op)"


#: The op table of this process: ``OPS["add"]`` is the op behind ``+``.
OPS = OpTable()
