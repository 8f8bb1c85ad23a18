"""Helpers for writing an op once for both a float and an array of lanes.

Python operators (``+ - * / **``, comparisons) already work on both. For anything else,
numpy's ufuncs work on both but cost about a microsecond on a plain float, twenty
times ``math``'s cost; `lanewise` picks ``math`` for a float and numpy for lanes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from microgradx.engine.value import Value, apply

_ndarray = np.ndarray


def is_lanes(x: Any) -> bool:
    """True when ``x`` is an array of lanes rather than one float."""
    return x.__class__ is _ndarray


def lanewise(scalar_fn: Callable[[float], float], array_fn: Callable[[np.ndarray], np.ndarray],
             op: Optional[str] = None) -> Callable[[Any], Any]:
    """One function of a float, an array of lanes and, given ``op`` (a registered op's name), a Value.

    ``scalar_fn`` for a float, ``array_fn`` for lanes, ``apply(op, x)`` for a Value: so a
    derivative written with it (``g * tanh(x)``) serves floats and lanes, and with
    ``create_graph=True`` (the op's backward on Values) it builds nodes that can be
    differentiated again.
    """

    def fn(x: Any) -> Any:
        if x.__class__ is _ndarray:
            return array_fn(x)
        if op is not None and x.__class__ is not float and isinstance(x, Value):
            return apply(op, x)
        return scalar_fn(x)

    fn.__doc__ = f"{getattr(scalar_fn, '__name__', 'f')} of a float, {getattr(array_fn, '__name__', 'f')} of lanes"
    return fn


def is_value(x: Any) -> bool:
    """True when ``x`` is a Value: an op's backward runs on Values under ``backward(create_graph=True)``."""
    return isinstance(x, Value)


def first_offender(x: Any, bad: Any) -> str:
    """Describe the first offending input for an error: ``-1.5`` or ``-1.5 (lane 3)``.

    ``bad`` is a bool (float input) or a bool array (lanes) marking invalid entries.
    """
    if x.__class__ is _ndarray:
        lane = int(np.argmax(bad))
        return f"{float(x.flat[lane])!r} (lane {lane})"  # float(): -2.5, not np.float64(-2.5)
    return repr(x)


def _exp_scalar(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:  # IEEE: overflow is +inf, as numpy and PyTorch give
        return math.inf


def _exp_array(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(x)


#: exp of a float or of lanes; overflow gives inf (never OverflowError); of a Value, the op ``exp``.
exp = lanewise(_exp_scalar, _exp_array, "exp")
#: natural log of a float or of lanes (callers check the domain first); of a Value, the op ``log``.
log = lanewise(math.log, np.log, "log")
#: tanh of a float or of lanes; of a Value, the op ``tanh``.
tanh = lanewise(math.tanh, np.tanh, "tanh")
