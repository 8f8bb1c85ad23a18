"""The checks and messages that keep the engine's mistakes loud: every error names its op and plugin.

`value.py` and `autograd.py` call these where something arrives that they did not make:
a user's number (`as_data`), an op's forward result (`check_output`), an op's gradient
(`check_gradient`), a seed for ``backward()`` (`check_seed`). Nothing here runs per node
unless a value is unusual (an array, a numpy scalar) or something already went wrong.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from microgradx.engine.optable import OPS


class GraphReleasedError(RuntimeError):
    """Back-propagation reached a node whose graph ``backward(retain_graph=False)`` released."""


def is_number(x: Any) -> bool:
    """A real number (int, float or numpy scalar), not a bool."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def as_data(x: Any) -> Any:
    """A user's number or 1-D array of lanes as ``Value.data``: a float, or a float64 array (a copy).

    Raises ``TypeError`` naming the type for anything else (strings, None, complex numbers,
    lists, 2-D arrays, bools, Values).
    """
    if is_number(x):
        return float(x)
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise TypeError(f"Value() takes a 1-D array of lanes, not a {x.ndim}-D array of shape {x.shape}")
        if x.dtype.kind not in "fiu":
            raise TypeError(f"Value() takes a real-number array of lanes, not dtype {x.dtype}")
        if x.size == 0:
            raise TypeError("Value() takes a lane array with at least one lane, not an empty array")
        return np.array(x, dtype=np.float64)  # a copy: later edits to x must not change the graph
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"Value() takes a number, not {type(x).__name__} (use 1.0/0.0 if you mean it)")
    if hasattr(x, "_parents"):
        raise TypeError("Value() takes a number or a 1-D array of lanes, not a Value: use that Value itself "
                        "(or Value(v.data) for a new leaf holding its number)")
    raise TypeError(f"Value() takes an int, float, numpy scalar or 1-D numpy array of lanes, not {type(x).__name__}")


def check_signatures(op: Any) -> None:
    """Raise ``TypeError`` when ``op``'s forward, backward or check cannot take the inputs its arity says,
    or its ``formula`` is not a str or a tuple of one str per input."""
    counts = (1, 2, 3) if op.arity is None else (op.arity,)
    want = "any number of inputs" if op.arity is None else f"{op.arity} input(s)"
    for field, extra in (("forward", 0), ("backward", 2), ("check", 0)):
        fn = getattr(op, field)
        if fn is not None and not all(_fits(fn, n + extra) for n in counts):
            takes = f"grad, out and {want}" if extra else want
            raise TypeError(f"Op {op.name!r}: {field}{_signature(fn)} cannot take {takes} (arity={op.arity}); "
                            f"fix its parameters or the arity")
    if op.formula is not None and not isinstance(op.formula, str) and not (isinstance(op.formula, tuple) and len(
            op.formula) == op.arity and all(isinstance(text, str) for text in op.formula)):
        raise TypeError(f"Op {op.name!r}: formula must be a str (every input's local derivative) or a tuple of one "
                        f"str per input (arity={op.arity}; a variadic op takes a str), got {op.formula!r}")


def _fits(fn: Callable, n: int) -> bool:
    """True when ``fn`` can be called with ``n`` positional arguments (or its signature is unknown)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some built-ins have no signature: trust them
        return True
    try:
        signature.bind(*range(n))
    except TypeError:
        return False
    return True


def _signature(fn: Callable) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(...)"


def check_output(op: Any, out: Any, xs: list) -> Any:
    """An op's forward result as ``Value.data`` (a float or a float64 lane array); else an error naming the op.

    A lane array must have one entry per lane of the inputs (lane inputs must agree, see
    `lane_count`); an op that is not a lane reduction returns lanes only for lane inputs.
    """
    if isinstance(out, np.ndarray) and out.ndim == 1 and out.size and out.dtype.kind in "fiu":
        if lane_count(op, xs) != out.size:
            raise ValueError(f"op {op.name!r} {OPS.origin(op)}: forward returned {out.size} lanes for {_kinds(xs)}; "
                             f"a forward returns one number per lane of its inputs (a float for floats)")
        return out if out.dtype == np.float64 else out.astype(np.float64)
    if is_number(out) or (isinstance(out, np.ndarray) and out.ndim == 0 and out.dtype.kind in "fiu"):
        return float(out)
    shape = f" of shape {out.shape}" if isinstance(out, np.ndarray) else ""
    raise TypeError(f"op {op.name!r} {OPS.origin(op)}: forward returned {type(out).__name__}{shape} for "
                    f"{_kinds(xs)}; it must return a float, or a 1-D float array with one entry per lane")


def lane_count(op: Any, xs: list) -> Any:
    """The number of lanes of an op's inputs (None when all are floats); lane inputs must agree.

    Raises ``ValueError`` for inputs of different lane counts: a mistake in the graph the user
    built, so the message says so rather than blaming the op.
    """
    counts = {x.size for x in xs if x.__class__ is np.ndarray}
    if len(counts) > 1:
        raise ValueError(f"op {op.name!r} was given inputs of {' and '.join(map(str, sorted(counts)))} lanes; the "
                         f"lane Values one op combines must have the same number of lanes (the lanes are examples: "
                         f"give every input the same examples, or reduce one first with lane_mean()/lane_sum())")
    return counts.pop() if counts else None


def forward_error(op: Any, xs: list, exc: Exception) -> Exception:
    """The error for a forward that failed: names the op, its plugin and whether it ran on lanes.

    An error whose message already names the op (anomaly mode's, an op's own) is kept as it is.
    """
    if f"op {op.name!r}" in str(exc):
        return exc
    lane_count(op, xs)  # inputs of different lane counts: the graph's mistake, not the op's
    hint = ""
    if any(isinstance(x, np.ndarray) for x in xs):
        hint = ("; on lanes each input is a numpy array: write the forward with operators and numpy (or "
                "microgradx.engine.lanes helpers such as lanewise), not math.* functions, which take one float")
    return _same_type(exc, f"in forward of op {op.name!r} {OPS.origin(op)}, on {_kinds(xs)}: "
                           f"{type(exc).__name__}: {exc}{hint}")


def backward_error(op: Any, exc: Exception) -> Exception:
    """The error for a failed backward, naming the op and its plugin."""
    return _same_type(exc, f"in backward of op {op.name!r} {OPS.origin(op)}: {exc}")


def wrong_gradients(op: Any, grads: Any, n: int) -> Exception:
    """The error for a backward that did not return a tuple of one gradient per input."""
    error = ValueError if isinstance(grads, tuple) else TypeError
    return backward_error(op, error(
        f"backward returned {describe(grads)} for {n} input(s); it must return a tuple with one gradient per "
        f"input (a float, a lane array or None), e.g. (g * y, g * x) for x * y"))


def check_gradient(op: Any, data: Any, g: Any) -> Any:
    """A gradient that is not a plain float, as the input holding ``data`` takes it (or an error naming the op).

    A lane gradient for a float input (a parameter every lane shares) is summed over the lanes.
    """
    lanes = isinstance(data, np.ndarray)
    if isinstance(g, np.ndarray) and g.ndim == 1 and (not lanes or g.shape == data.shape):
        return g if lanes else float(g.sum())
    if is_number(g) or (isinstance(g, np.ndarray) and g.ndim == 0):
        return float(g)
    want = f"{data.size} lanes" if lanes else "a float input"
    raise backward_error(op, TypeError(f"backward returned a gradient {describe(g)} for {want}"))


def check_seed(data: Any, grad: Any, create_graph: bool = False) -> Any:
    """The seed d(root)/d(root) of a backward pass from a root holding ``data``."""
    if OPS.tracer is not None and not create_graph:  # a compiled function records: its data is not numbers yet
        OPS.tracer.check_backward(data)
    lanes = isinstance(data, np.ndarray)
    if grad is None:
        if lanes and data.size != 1:
            raise ValueError(f"backward() on a Value of {data.size} lanes needs grad= (one number per lane, "
                             f"e.g. np.ones({data.size})) or one number first: v.lane_mean().backward() or "
                             f"v.lane_sum().backward()")
        return np.ones_like(data) if lanes else 1.0
    if lanes and isinstance(grad, np.ndarray) and grad.shape == data.shape:
        return np.asarray(grad, dtype=np.float64)
    if is_number(grad) or (isinstance(grad, np.ndarray) and grad.ndim == 0 and grad.dtype.kind in "fiu"):
        return np.full_like(data, float(grad)) if lanes and not create_graph else float(grad)  # (a Value broadcasts)
    shape = f" or an array of shape {data.shape}" if lanes else ""
    raise TypeError(f"backward(grad=...) takes a number{shape}, got {describe(grad)}")


_DIFFERENTIATING = threading.local()  # .op: the op whose backward runs on Values in this thread (create_graph)

#: What a backward must be to run on Values, and where the docs say how (the messages of a backward for numbers only).
ON_VALUES = ("with create_graph=True a backward runs on Values (grad, out, the inputs), so it must be written with "
             "operators and ops (g * x.exp(), not np.exp(x) or math.exp(x)) to be differentiated again; see "
             "docs/plugins.md, 'A backward that is differentiable' (without create_graph it runs on numbers)")


def backward_on_values(op: Any, v: Any, inputs: tuple) -> Any:
    """``op.backward`` on Values (``create_graph=True``): the gradient, the output, the inputs are Values.

    A float taken out of a Value meanwhile (``math.cos(x)``, ``float(x)``) would be a constant
    of the new graph, silently wrong when differentiated again: `one_number` refuses it. A
    ``TypeError`` from a backward written for numbers only (numpy on a Value, a comparison)
    says how to make it differentiable (`ON_VALUES`).
    """
    _DIFFERENTIATING.op = op
    try:
        return op.backward(v.grad, v, *inputs)
    except TypeError as exc:  # a backward for numbers only: numpy on a Value, a comparison, float()
        raise TypeError(f"{exc}; {ON_VALUES}") from exc
    finally:
        _DIFFERENTIATING.op = None


def graph_gradient(op: Any, p: Any, g: Any) -> Any:
    """A gradient from a backward on Values, as the input ``p`` takes it: a Value (a lane one summed for a float)."""
    if not hasattr(g, "_parents"):
        raise backward_error(op, TypeError(f"its backward returned {describe(g)}, not a Value; {ON_VALUES}"))
    if isinstance(g.data, np.ndarray) and not isinstance(p.data, np.ndarray):  # a parameter every lane shares
        total = next((o.name for o in OPS.values() if o.sums_lanes), None)
        if total is None:
            raise backward_error(op, TypeError("with create_graph=True a lane gradient for a float input needs the "
                                               "lanes' total as an op, and no registered op has sums_lanes=True"))
        return getattr(g, total)()  # the lanes' total, a node of the graph
    return g


def one_number(v: Any) -> float:
    """``v.item()``: the data of ``v`` as a float (one lane at most); refused inside a backward on Values."""
    if getattr(_DIFFERENTIATING, "op", None) is not None:  # (the backward's error names the op)
        raise TypeError("it took a float out of a Value (float(), math.*), which would be a constant of the "
                        "gradient's graph: its derivative would be silently wrong")
    data = v.data
    if isinstance(data, np.ndarray) and data.size != 1:
        raise ValueError(f"item() needs one number, not {data.size} lanes (use lane_mean() or lane_sum())")
    return float(data[0] if isinstance(data, np.ndarray) else data)


def released(data: Any) -> GraphReleasedError:
    """The error for back-propagating through a released node holding ``data``."""
    what = f"a Value of {data.size} lanes" if isinstance(data, np.ndarray) else f"Value(data={data!r})"
    return GraphReleasedError(
        f"backward() reached {what} whose graph an earlier backward(retain_graph=False) released (its inputs "
        f"and op are gone); pass retain_graph=True (the default) to the first backward() to back-propagate "
        f"through a graph again, or rebuild the graph")


def lanes(x: Any, like: Any = None) -> str:
    """A lane array in a few numbers, for a repr (``like``: broadcast a grad of 0.0 or None to its shape).

    A grad whose shape no longer fits the data (a Value whose lanes were replaced) shows its own
    shape: a repr must not fail where an error message wants to quote it.
    """
    if x is None:
        return "None"
    if like is not None and np.shape(x) == ():  # an op output's grad is 0.0 until backward
        x = np.broadcast_to(x, like.shape)
    text = np.array2string(x if isinstance(x, np.ndarray) else np.asarray(x), precision=4, threshold=6, edgeitems=2)
    return text if like is None or np.shape(x) == like.shape else f"{text} (shape {np.shape(x)}, not {like.shape})"


def describe(x: Any) -> str:
    """``x`` in a few words, for messages: "an array of shape (3,)", "a tuple of 2", "a list"."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if isinstance(x, tuple):
        return f"a tuple of {len(x)}"
    return f"a {type(x).__name__}"


def _kinds(xs: list) -> str:
    lanes = [x.size for x in xs if isinstance(x, np.ndarray)]
    return f"lanes ({lanes[0]} of them)" if lanes else "floats"


def _same_type(exc: Exception, message: str) -> Exception:
    """``message`` as an exception of ``exc``'s type where that type takes one message, else RuntimeError."""
    if isinstance(exc, (ValueError, TypeError, ArithmeticError, GraphReleasedError)):
        try:
            return type(exc)(message)
        except Exception:  # an exception class whose constructor wants other arguments
            pass
    return RuntimeError(message if type(exc).__name__ in message else f"{message} ({type(exc).__name__})")
