"""Helpers for writing an op once for both a float and an array of lanes.

Python operators (``+ - * / **``, comparisons) already work on both. For anything else,
numpy's ufuncs work on both but cost about a microsecond on a plain float, twenty
times ``math``'s cost; `lanewise` picks ``math`` for a float and numpy for lanes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

_ndarray = np.ndarray


def is_lanes(x: Any) -> bool:
    """True when ``x`` is an array of lanes rather than one float."""
    return x.__class__ is _ndarray


def lanewise(scalar_fn: Callable[[float], float], array_fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any], Any]:
    """One function of a float or an array: ``scalar_fn`` for a float, ``array_fn`` for lanes."""

    def fn(x: Any) -> Any:
        return array_fn(x) if x.__class__ is _ndarray else scalar_fn(x)

    fn.__doc__ = f"{getattr(scalar_fn, '__name__', 'f')} of a float, {getattr(array_fn, '__name__', 'f')} of lanes"
    return fn


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


#: exp of a float or of lanes; overflow gives inf (never OverflowError).
exp = lanewise(_exp_scalar, _exp_array)
#: natural log of a float or of lanes (callers check the domain first).
log = lanewise(math.log, np.log)
#: tanh of a float or of lanes.
tanh = lanewise(math.tanh, np.tanh)
