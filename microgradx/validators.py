"""Settings are checked by compositions of ``attrs.validators``; `must_be` gives them one message.

Every component's settings (an op, a layer, a loss, an optimizer, a schedule, a callback, a
dataset) are attrs fields whose validator is ``must_be(what, *validators)``: the validators
are attrs' own (``instance_of``, ``in_``, ``ge``, ``lt``, ``min_len``, ``optional``,
``or_``, ``deep_iterable`` ...), and a setting they refuse raises one message shape, naming the
class, the setting, what it must be and the value given::

    lr: float = attrs.field(default=0.1, validator=must_be("a finite number >= 0", finite, ge(0)))

    SGD(params, lr=-1)   # ValueError: SGD: lr must be a finite number >= 0, got -1

For the rules attrs has no validator for there is `satisfies` (a plain predicate made a
validator), and two rules used across the package are ready made: `finite` (a real number, not
a bool, neither infinite nor nan) and `integer` (an integral number, not a bool).

This module imports only attrs, numpy and the standard library: it is the bottom layer, below
the engine, so every part of microgradx (the engine included) and the bundled plugins use it.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Callable
from typing import Any, Union

import attrs
import numpy as np
from attrs.validators import and_, instance_of, not_

# What attrs' validators and `satisfies` raise for a refused value (LookupError: an unknown
# registered name); anything else is a bug and propagates as it is.
_REFUSALS = (TypeError, ValueError, LookupError)
_REASON = "_microgradx_refusal_reason"  # marks an error a `satisfies` predicate raised to explain a refusal

_REPR = reprlib.Repr()  # a value is shown, not dumped: long strings, lists and objects are cut short
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = 8


def _shown(value: Any) -> str:
    """``value`` as an error message shows it: its repr cut short, an array by its shape and dtype."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return _REPR.repr(value)


def _owner(instance: Any, attribute: attrs.Attribute) -> str:
    """Who a setting belongs to: the class name, with the instance's ``name`` field when it has one (``Op 'exp'``)."""
    cls = type(instance)
    named = attribute.name != "name" and attrs.has(cls) and "name" in attrs.fields_dict(cls)
    name = getattr(instance, "name", None) if named else None
    return f"{cls.__name__} {name!r}" if isinstance(name, str) else cls.__name__


@attrs.frozen(repr=False)
class _MustBe:
    what: str
    validator: Callable[[Any, attrs.Attribute, Any], None]
    error: Union[type[Exception], None]

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        try:
            self.validator(instance, attribute, value)
        except _REFUSALS as exc:
            message = f"{_owner(instance, attribute)}: {attribute.name} must be {self.what}, got {_shown(value)}"
            if getattr(exc, _REASON, False):  # a predicate that said why (not attrs' own wording)
                message += f": {exc}"
            raise (self.error or type(exc))(message) from None

    def __repr__(self) -> str:
        return f"<must_be {self.what!r} validator>"


def must_be(what: str, *validators: Callable[[Any, attrs.Attribute, Any], None],
            error: Union[type[Exception], None] = ValueError) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A validator running ``validators`` in order (attrs' ``and_``) and refusing a value with one message.

    The message is ``"{Class}: {setting} must be {what}, got {value}"`` (``Op 'exp': ...`` for a
    class with a ``name`` field, such as `microgradx.Op`), the value shown short (an array by its
    shape and dtype), followed by ``": {reason}"`` when a `satisfies` predicate raised to say why.

    Args:
        what: what the setting must be, as the message reads (``"a finite number >= 0"``).
        validators: attrs validators (or `satisfies`, `finite`, `integer`), all of which must pass.
        error: the exception class raised (``ValueError`` by default, ``TypeError`` for a
            setting of the wrong kind); None raises the class the failing validator raised
            (``TypeError`` from ``instance_of``, ``ValueError`` from ``ge``, a predicate's own
            ``LookupError`` ...), which must take a message as its one argument.
    """
    return _MustBe(what, and_(*validators), error)


@attrs.frozen(repr=False)
class _Satisfies:
    test: Callable[[Any], Any]

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        try:
            ok = self.test(value)
        except _REFUSALS as exc:
            setattr(exc, _REASON, True)
            raise
        if not ok:
            raise ValueError(f"'{attribute.name}' must satisfy {getattr(self.test, '__name__', self.test)} "
                             f"(got {_shown(value)})")

    def __repr__(self) -> str:
        return f"<satisfies {getattr(self.test, '__name__', self.test)} validator>"


def satisfies(test: Callable[[Any], Any]) -> Callable[[Any, attrs.Attribute, Any], None]:
    """A validator for a rule attrs has no validator for: ``test(value)`` must be true.

    A false result raises ``ValueError``. To say why a value is refused, ``test`` may raise
    ``ValueError``, ``TypeError`` or ``LookupError`` itself: `must_be` then puts that message
    after its own (so run ``instance_of`` first where a wrong type would make ``test`` raise an
    unhelpful error, e.g. ``str.isidentifier(3)``).
    """
    return _Satisfies(test)


#: A real number (an int, a float, a numpy number; not a bool) that is neither infinite nor nan.
finite = and_(instance_of(numbers.Real), not_(instance_of(bool)), satisfies(math.isfinite))

#: An integral number (an int or a numpy integer), not a bool.
integer = and_(instance_of(numbers.Integral), not_(instance_of(bool)))
