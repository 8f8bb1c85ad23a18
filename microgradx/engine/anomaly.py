"""Anomaly mode: stop at the first NaN or infinity, naming the op and where its node was made.

    >>> import microgradx
    >>> from microgradx import Value
    >>> with microgradx.detect_anomaly():
    ...     x = Value(0.0)
    ...     y = (x * 1000.0 - 1.0).exp() * 0.0 + x.tanh()        # fine: exp(-1)
    ...     z = (x + 1000.0).exp()                                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FloatingPointError: op 'exp' (from built-in plugin 'activations') produced inf in forward
      input 0: 1000.0
    ...

Inside ``with detect_anomaly():`` the first op whose forward returns NaN or ±inf, or whose
backward produces a NaN or infinite gradient (or a gradient that overflows when
accumulated), raises `FloatingPointError` naming the op, the plugin that registered it,
its inputs (the offending lane of a lane Value) and where its node was made (the
innermost lines of *your* code).

**No cost when off.** Nothing in the engine tests a flag per node. Entering anomaly mode
swaps data: every op in the op table is replaced by a checked copy (the same op whose
forward checks its result and notes where it was called), and the table's ``visit`` is set
to the checking backward step, which the driver picks once per ``backward()`` call.
Leaving puts the plain ops back. Nodes made outside anomaly mode carry the plain op and
no record of where they were made; their backward is still checked.

**Scope: process-wide, counted.** The op table is shared, so anomaly mode is on for every
thread while any thread is inside a ``detect_anomaly()`` block; blocks nest and overlap
freely. Ops registered while it is on are checked from the next block on.
"""

from __future__ import annotations

import linecache
import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.engine.autograd import local_gradients
from microgradx.engine.errors import check_gradient
from microgradx.engine.optable import OPS

__all__ = ["detect_anomaly", "is_anomaly_enabled"]

#: How many frames of user code a record of where a node was made keeps.
MAX_FRAMES = 4

_LOCK = threading.Lock()
_depth = 0
_plain_ops: dict = {}  # name -> the plain op, while its checked copy is in the table
_made: dict = {}  # id(output data) -> (data, op name, frames): where each checked op's output was made
#: Filename prefixes of library code, skipped in "made at": microgradx itself, and the files of the
#: bundled plugins, which the registry adds when it loads them (`library_code`).
LIBRARY_CODE: set = {os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep, "<attrs generated"}


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Turn anomaly mode on inside the ``with`` block (or a decorated function): see the module docstring.

    Raises `FloatingPointError` at the first op whose forward or backward produces NaN or ±inf.
    Process-wide (every thread) while any block is active; blocks nest.
    """
    global _depth
    with _LOCK:
        _depth += 1
        if _depth == 1:
            _check_the_table()
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0:
                _restore_the_table()


def is_anomaly_enabled() -> bool:
    """True while any ``detect_anomaly()`` block is active (in any thread)."""
    return _depth > 0


def library_code(*paths: str) -> None:
    """Count the files (or folders, ending in a separator) at ``paths`` as library code: "made at" skips them."""
    LIBRARY_CODE.update(paths)


def _check_the_table() -> None:
    OPS.load()
    for name, op in list(OPS.items()):
        _plain_ops[name] = op
        constants = {} if op.with_constant is None else {"with_constant": _checked_constants(op.with_constant)}
        OPS[name] = attrs.evolve(op, forward=_checked_forward(op), **constants)
    OPS.visit = checked_visit


def _restore_the_table() -> None:
    for name, plain in _plain_ops.items():
        if dict.get(OPS, name) is not None and getattr(OPS[name].forward, "plain_op", None) is plain:
            OPS[name] = plain  # (a registry rebuild meanwhile already put plain ops back)
    _plain_ops.clear()
    _made.clear()
    OPS.visit = None


# -- forward --------------------------------------------------------------------------------------


def _checked_forward(op: Any) -> Any:
    """``op.forward`` that raises at a non-finite result and notes where each output was made."""
    plain = op.forward

    def forward(*xs: Any) -> Any:
        out = plain(*xs)
        frames = _user_frames()
        if not _finite(out):
            raise FloatingPointError(_forward_message(op, xs, out, frames))
        _made[id(out)] = (out, op.name, frames)  # the data is kept, so its id stays its own
        return out

    forward.plain_op = op
    return forward


def _checked_constants(plain: Any) -> Any:
    """An op's ``with_constant`` whose ops are checked too (``x ** 2``): one checked copy per plain op."""
    copies: dict = {}  # id(plain op) -> (plain op, its checked copy); holding the plain op keeps its id its own

    def with_constant(c: Any) -> Any:
        op = plain(c)
        copy = copies.get(id(op))
        if copy is None:
            copy = copies.setdefault(id(op), (op, attrs.evolve(op, forward=_checked_forward(op))))
        return copy[1]

    return with_constant


def _user_frames() -> tuple:
    """(filename, line, function) of the innermost frames outside microgradx, innermost first."""
    frames, library = [], tuple(LIBRARY_CODE)
    frame = sys._getframe(2)
    while frame is not None and len(frames) < MAX_FRAMES:
        code = frame.f_code
        if not code.co_filename.startswith(library):
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    return tuple(frames)


def _forward_message(op: Any, xs: tuple, out: Any, frames: tuple) -> str:
    lane = _bad_lane(out)
    lines = [f"op {op.name!r} ({OPS.origin(op)}) produced {_show(out, lane)} in forward{_lane_text(out, lane)}"]
    for i, x in enumerate(xs):
        line = f"  input {i}: {_show(x, lane)}"
        if not _finite(_at(x, lane)):
            made = _made.get(id(x))
            line += ("  <- already not finite on input: " + (
                f"the output of op {made[1]!r} made at {_short(made[2])}" if made and made[0] is x
                else "a leaf Value, or a node made before anomaly mode was on"))
        lines.append(line)
    lines.append(_format(frames, "node made at"))
    return "\n".join(lines)


# -- backward -------------------------------------------------------------------------------------


def checked_visit(v: Any, grads: Any = None) -> None:
    """`microgradx.engine.autograd.visit_node` in anomaly mode: every gradient and accumulation checked.

    ``grads``, as for `visit_node`: the node's local gradients when a watching step has them already.
    """
    op = v.op
    if not _finite(v.grad):
        raise FloatingPointError(f"backward reached op {op.name!r} ({OPS.origin(op)}) with the non-finite gradient "
                                 f"{_show(v.grad, _bad_lane(v.grad))} (the seed passed to backward()?)\n"
                                 + _where_made(v))
    for i, (p, g) in enumerate(zip(v._parents, grads or local_gradients(v))):
        if g is None or p.grad is None:  # (grad None: a Value that takes no gradient)
            continue
        if not _finite(g):
            lane = _bad_lane(g)
            inputs = "\n".join(f"  input {j}: {_show(q.data, lane)}" for j, q in enumerate(v._parents))
            raise FloatingPointError(
                f"backward of op {op.name!r} ({OPS.origin(op)}) produced {_show(g, lane)} as the gradient of "
                f"input {i}{_lane_text(g, lane)}\n{inputs}\n"
                f"  output: {_show(v.data, lane)}, gradient of the output: {_show(v.grad, lane)}\n" + _where_made(v))
        old = p.grad
        p.grad = old + (g if g.__class__ is float else check_gradient(op, p.data, g))
        if not _finite(p.grad):
            lane = _bad_lane(p.grad)
            raise FloatingPointError(
                f"the gradient of input {i} of op {op.name!r} ({OPS.origin(op)}) became {_show(p.grad, lane)} when "
                f"accumulated{_lane_text(p.grad, lane)}: it held {_show(old, lane)} and backward added "
                f"{_show(g, lane)}\n" + _where_made(v))


def _where_made(v: Any) -> str:
    made = _made.get(id(v.data))
    if made is None or made[0] is not v.data:
        return "  node made before anomaly mode was on: no record of where"
    return _format(made[2], "node made at")


# -- messages -------------------------------------------------------------------------------------


def _finite(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return bool(np.isfinite(x).all())
    try:
        return math.isfinite(x)
    except TypeError:  # not a number: not anomaly mode's business
        return True


def _bad_lane(x: Any) -> Optional[int]:
    if isinstance(x, np.ndarray) and x.ndim == 1 and x.size:
        return int(np.argmax(~np.isfinite(x)))
    return None


def _at(x: Any, lane: Optional[int]) -> Any:
    return x[lane] if lane is not None and isinstance(x, np.ndarray) and x.ndim == 1 and lane < x.size else x


def _lane_text(x: Any, lane: Optional[int]) -> str:
    return "" if lane is None else f" (lane {lane} of {x.size})"


def _show(x: Any, lane: Optional[int]) -> str:
    """One number for a message: ``x`` itself, or its lane ``lane``, or a summary of its lanes."""
    if isinstance(x, np.ndarray):
        if lane is not None and x.ndim == 1 and lane < x.size:
            return repr(float(x[lane]))
        bad = _bad_lane(x)
        if bad is not None and not np.isfinite(x[bad]):
            return f"{float(x[bad])!r} in lane {bad} of {x.size}"
        return f"{x.size} lanes in [{float(x.min())!r}, {float(x.max())!r}]"
    try:
        return repr(float(x))
    except (TypeError, ValueError):
        return repr(x)


def _short(frames: tuple) -> str:
    if not frames:
        return "a line inside microgradx"
    filename, lineno, _ = frames[0]
    return f'File "{filename}", line {lineno}'


def _format(frames: tuple, title: str) -> str:
    """Traceback-style lines, outermost first (as Python prints them)."""
    lines = [f"  {title} (most recent call last):"]
    if not frames:
        lines.append("    <no frame outside microgradx>")
    for filename, lineno, name in reversed(frames):
        lines.append(f'    File "{filename}", line {lineno}, in {name}')
        source = linecache.getline(filename, lineno).strip()
        if source:
            lines.append(f"      {source}")
    return "\n".join(lines)
