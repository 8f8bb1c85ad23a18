"""Anomaly mode: stop at the first NaN or infinity, naming the op and where its node was made.

    >>> import microgradx
    >>> from microgradx import Value
    >>> with microgradx.detect_anomaly():
    ...     x = Value(0.0)
    ...     y = (x * 1000.0 - 1.0).exp() * 0.0 + x.tanh()        # fine: exp(-1)
    ...     z = (x + 1000.0).exp()                                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FloatingPointError: op 'exp' (registered by built-in plugin 'activations') produced inf in forward
      input 0: 1000.0
    ...

Inside ``with detect_anomaly():`` every new Value remembers where it was created (the
innermost frames of *your* code, skipping microgradx's own), and the first op whose
forward returns NaN or ±inf, or whose backward produces a NaN or infinite gradient
(or whose gradient overflows when accumulated), raises `FloatingPointError` naming the
op, the plugin that registered it, its inputs (the offending lane of a lane Value) and
where its node was created. An input that is already non-finite is called out, with
where it came from (a leaf you made, or a node made before anomaly mode was on).

**No cost when off.** The checks are not a flag tested per node: entering anomaly mode
replaces the functions that make and differentiate nodes (`microgradx.engine.value._node`,
``Value.__init__``, the operator and op methods of `Value`, and `microgradx.engine.autograd._propagate`)
with checking versions, and leaving restores the originals, so outside anomaly mode the code that runs is exactly
the plain code (``benchmarks/bench_nodes.py`` has a row for each). The creation site is
kept on the node's parent tuple (a tuple subclass, `TracedParents`), so `Value` needs
no extra slot either.

**Scope: process-wide, counted.** Because it swaps module-level functions, anomaly mode
is on for every thread while any thread is inside a ``detect_anomaly()`` block. Blocks
nest and overlap freely (also across threads): it is switched on when the first block
is entered and off when the last one is left. Nodes made while it is on keep their
creation site; a backward pass checks gradients if anomaly mode is on when it starts.
"""

from __future__ import annotations

import linecache
import math
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np

from microgradx.engine import autograd, value
from microgradx.engine.autograd import GraphReleasedError, _backward_error, _lanes_to
from microgradx.engine.value import Value

__all__ = ["TracedParents", "detect_anomaly", "is_anomaly_enabled"]

_ndarray = np.ndarray
#: How many frames of user code a node remembers.
MAX_FRAMES = 4

_PLAIN_NODE = value._node
_PLAIN_INIT = Value.__init__
_PLAIN_PROPAGATE = autograd._plain_propagate
_PLAIN_OP_METHOD = value._op_method
#: The operator methods: they make their nodes inline (no `_node` call), so anomaly mode replaces them.
_OPERATORS = {"__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div", "__pow__": "pow"}
_REFLECTED = {"__radd__": "add", "__rsub__": "sub", "__rmul__": "mul", "__rtruediv__": "div", "__rpow__": "pow"}
_PLAIN_OPERATORS = {name: Value.__dict__[name] for name in (*_OPERATORS, *_REFLECTED, "__neg__")}

_LOCK = threading.Lock()
_depth = 0
_SKIP: tuple = ()  # filename prefixes of microgradx's own code (core and bundled plugins)
_PLUGINS_DIR = ""


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Turn anomaly mode on inside the ``with`` block (or a decorated function): see the module docstring.

    Raises `FloatingPointError` at the first op whose forward or backward produces NaN or ±inf.
    Process-wide (every thread) while any block is active; blocks nest.
    """
    _enable()
    try:
        yield
    finally:
        _disable()


def is_anomaly_enabled() -> bool:
    """True while any ``detect_anomaly()`` block is active (in any thread)."""
    return _depth > 0


def _enable() -> None:
    global _depth, _SKIP, _PLUGINS_DIR
    with _LOCK:
        if not _SKIP:
            import microgradx_plugins

            _PLUGINS_DIR = os.path.dirname(os.path.abspath(microgradx_plugins.__file__)) + os.sep
            # attrs writes the __init__ of the bundled components into "<attrs generated ...>"
            package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # microgradx/
            _SKIP = (package + os.sep, _PLUGINS_DIR, "<attrs generated")
        _depth += 1
        if _depth == 1:
            _install(checked=True)


def _disable() -> None:
    global _depth
    with _LOCK:
        _depth -= 1
        if _depth == 0:
            _install(checked=False)


# -- where a node was made --------------------------------------------------------------------


class Site:
    """Where a node was created: the innermost frames of user code, and the bundled plugin frame if any."""

    __slots__ = ("frames", "via")

    def __init__(self, frames: tuple, via: Optional[tuple]) -> None:
        # (code, instruction offset) pairs, innermost first: the line number is worked out only when
        # printed, as finding it costs time proportional to the function's length
        self.frames = frames
        self.via = via  # the bundled-plugin frame the node was made in (e.g. Neuron.forward), or None

    def lines(self) -> list:
        """``(filename, line number, function name)`` of each user frame, innermost first."""
        return [(code.co_filename, _lineno(code, lasti), code.co_name) for code, lasti in self.frames]

    def format(self, title: str = "created at") -> str:
        """Traceback-style lines, outermost first (as Python prints them)."""
        lines = [f"  {title} (most recent call last):"]
        if not self.frames:
            lines.append("    <no frame outside microgradx>")
        for filename, lineno, name in reversed(self.lines()):
            lines.append(f'    File "{filename}", line {lineno}, in {name}')
            source = linecache.getline(filename, lineno).strip()
            if source:
                lines.append(f"      {source}")
        if self.via is not None:
            code, lasti = self.via
            name = getattr(code, "co_qualname", code.co_name)
            lines.append(f"    (in {os.path.basename(code.co_filename)}:{_lineno(code, lasti)}, {name}, "
                         f"of the bundled plugins)")
        return "\n".join(lines)

    def short(self) -> str:
        """The innermost user frame as ``file:line``."""
        if not self.frames:
            return "inside microgradx"
        filename, lineno, _ = self.lines()[0]
        return f'File "{filename}", line {lineno}'


def _site() -> Site:
    frame = sys._getframe(2)
    frames: list = []
    via = None
    skip, plugins = _SKIP, _PLUGINS_DIR
    while frame is not None and len(frames) < MAX_FRAMES:
        code = frame.f_code
        filename = code.co_filename
        if filename.startswith(skip):
            if via is None and not frames and filename.startswith(plugins):
                via = (code, frame.f_lasti)
        else:
            frames.append((code, frame.f_lasti))
        frame = frame.f_back
    return Site(tuple(frames), via)


def _lineno(code: Any, lasti: int) -> int:
    """The source line of the instruction at offset ``lasti`` in ``code``."""
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return line
    return code.co_firstlineno


class TracedParents(tuple):
    """A node's parent tuple that also remembers where the node was created (``site``): anomaly mode only."""

    def __new__(cls, parents: Iterable[Any], site: Site) -> TracedParents:
        t = super().__new__(cls, parents)
        t.site = site
        return t


def site_of(v: Any) -> Optional[Site]:
    """Where ``v`` was created, if it was created in anomaly mode (else None)."""
    return getattr(v._parents, "site", None)


# -- the checking versions ----------------------------------------------------------------------


def _finite(x: Any) -> bool:
    if x.__class__ is _ndarray:
        return bool(np.isfinite(x).all())
    try:
        return math.isfinite(x)
    except TypeError:  # not a number: not anomaly mode's business
        return True


def _checked_node(data: Any, parents: tuple, op: Any) -> Value:
    """`microgradx.engine.value._node` in anomaly mode: check the output, remember the creation site."""
    site = _site()
    if op is not None and not _finite(data):
        raise FloatingPointError(_forward_message(op, data, parents, site))
    return _PLAIN_NODE(data, TracedParents(parents, site), op)


def _checked_init(self: Value, data: Any, _parents: tuple = (), _op: Any = None, label: Optional[str] = None) -> None:
    _PLAIN_INIT(self, data, _parents, _op, label)
    site = _site()
    if _op is not None and not _finite(self.data):
        raise FloatingPointError(_forward_message(_op, self.data, self._parents, site))
    self._parents = TracedParents(self._parents, site)


_checked_init.__doc__ = _PLAIN_INIT.__doc__


# The operator and op methods make their nodes without calling `_node`; in anomaly mode they go
# through `microgradx.engine.value.apply`, which calls it (the checking `_checked_node` by then).


def _checked_operator(name: str, reflected: bool) -> Any:
    def operator(self: Value, other: Any) -> Value:
        return value.apply(value.OPS[name], other, self) if reflected else value.apply(value.OPS[name], self, other)

    operator.__doc__ = f"Apply the registered op {name!r} (anomaly mode: checked)."
    return operator


def _checked_neg(self: Value) -> Value:
    """Apply the registered op 'neg' (anomaly mode: checked)."""
    return value.apply(value.OPS["neg"], self)


_CHECKED_OPERATORS = {
    **{name: _checked_operator(op, False) for name, op in _OPERATORS.items()},
    **{name: _checked_operator(op, True) for name, op in _REFLECTED.items()},
    "__neg__": _checked_neg,
}


def _checked_op_method(name: str) -> Any:
    """`_op_method` in anomaly mode: ``v.NAME(*others)`` through `microgradx.engine.value.apply`."""

    def method(self: Value, *others: Any) -> Value:
        try:
            op = value.OPS[name]
        except KeyError:  # the op is gone: the plain method raises the AttributeError and forgets itself
            return _PLAIN_OP_METHOD(name)(self, *others)
        return value.apply(op, self, *others)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Apply the registered op {name!r} to this Value (anomaly mode: checked)."
    value._OP_METHODS.add(name)  # so that leaving anomaly mode removes it
    return method


def _checked_propagate(nodes: Iterable[Any]) -> None:
    """`microgradx.engine.autograd._propagate` in anomaly mode: every gradient and every accumulation checked.

    ``nodes`` holds op outputs only, as for the plain loop (see `microgradx.engine.autograd._op_order`).
    """
    for v in nodes:
        op = v._op
        g = v.grad
        if not _finite(g):
            raise FloatingPointError(f"backward reached op {op.name!r} ({_origin(op)}) with the non-finite gradient "
                                     f"{_show(g, _bad_lane(g))} (the seed passed to backward()?)\n"
                                     + _site_text(v))
        parents = v._parents
        grads = None
        try:
            grads = op.backward(g, v.data, *[p.data for p in parents])
            if len(grads) != len(parents):
                raise ValueError("wrong number of gradients")  # reworded by _backward_error
        except GraphReleasedError:
            raise
        except Exception as exc:
            raise _backward_error(op, exc, grads, len(parents)) from exc
        for i, (p, gi) in enumerate(zip(parents, grads)):
            if gi is None:
                continue
            if not _finite(gi):
                lane = _bad_lane(gi)
                raise FloatingPointError(
                    f"backward of op {op.name!r} ({_origin(op)}) produced {_show(gi, lane)} as the gradient of "
                    f"input {i}{_lane_text(gi, lane)}\n{_inputs_text(parents, lane)}\n"
                    f"  output: {_show(v.data, lane)}, gradient of the output: {_show(g, lane)}\n" + _site_text(v))
            old = p.grad
            p.grad = old + (gi if gi.__class__ is not _ndarray else _lanes_to(p, gi))
            if not _finite(p.grad):
                lane = _bad_lane(p.grad)
                raise FloatingPointError(
                    f"the gradient of input {i} of op {op.name!r} ({_origin(op)}) became {_show(p.grad, lane)} when "
                    f"accumulated{_lane_text(p.grad, lane)}: it held {_show(old, lane)} and backward added "
                    f"{_show(gi, lane)}\n" + _site_text(v))


# -- messages ----------------------------------------------------------------------------------


def _origin(op: Any) -> str:
    try:
        from microgradx.registry.core import get_registry

        component = get_registry().tables["ops"].get(op.name)
    except Exception:
        component = None
    if component is not None and component.obj is op:
        return f"registered by {component.plugin.where}"
    return "an Op applied directly, not the registered one"


def _bad_lane(x: Any) -> Optional[int]:
    if x.__class__ is _ndarray and x.ndim == 1 and x.size:
        return int(np.argmax(~np.isfinite(x)))
    return None


def _lane_text(x: Any, lane: Optional[int]) -> str:
    return "" if lane is None else f" (lane {lane} of {x.size})"


def _show(x: Any, lane: Optional[int]) -> str:
    """One number for a message: ``x`` itself, or its lane ``lane``, or a summary of its lanes."""
    if x.__class__ is _ndarray:
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


def _inputs_text(parents: tuple, lane: Optional[int]) -> str:
    lines = []
    for i, p in enumerate(parents):
        x = p.data
        line = f"  input {i}: {_show(x, lane)}"
        at = x[lane] if (lane is not None and x.__class__ is _ndarray and lane < x.size) else x
        if not _finite(at):
            site = site_of(p)
            if p._op is None:
                label = f" (label {p.label!r})" if p.label else ""
                origin = f"a leaf Value{label}" + (f" created at {site.short()}" if site else "")
            else:
                origin = f"the output of op {p._op.name!r}" + (
                    f" created at {site.short()}" if site else ", made before anomaly mode was on")
            line += f"  <- already not finite on input: {origin}"
        lines.append(line)
    return "\n".join(lines)


def _site_text(v: Any) -> str:
    site = site_of(v)
    if site is None:
        return "  node created before anomaly mode was on: no record of where"
    return site.format("node created at")


def _forward_message(op: Any, data: Any, parents: tuple, site: Site) -> str:
    lane = _bad_lane(data)
    return (f"op {op.name!r} ({_origin(op)}) produced {_show(data, lane)} in forward{_lane_text(data, lane)}\n"
            f"{_inputs_text(parents, lane)}\n{site.format('node created at')}")


def _install(checked: bool) -> None:
    """Put the checking (or the plain) versions of every swapped function in place."""
    swaps = [(value, "_node", _PLAIN_NODE, _checked_node), (Value, "__init__", _PLAIN_INIT, _checked_init),
             (autograd, "_propagate", _PLAIN_PROPAGATE, _checked_propagate),
             (value, "_op_method", _PLAIN_OP_METHOD, _checked_op_method)]
    swaps += [(Value, name, plain, _CHECKED_OPERATORS[name]) for name, plain in _PLAIN_OPERATORS.items()]
    for owner, name, plain, checking in swaps:
        setattr(owner, name, checking if checked else plain)
    value.forget_op_methods()  # `v.NAME()` methods are reinstalled on next use, by the current `_op_method`
