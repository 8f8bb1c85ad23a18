"""Tracing: while a compiled function records, the data of the Values it computes is not a number to decide on.

A recording is replayed on new data without running the function's Python code (jax.jit's
model), so a Python decision on a number computed from the arguments (``if v.data > 0``,
``float(v)``, numpy on ``v.data``) would be replayed the way it went the first time: a
silently different result. So, while ``fn`` records, every input Value and every Value an
op makes holds a *traced* stand-in for its data. It prints as the number it holds and
answers what kind of data it is (``isinstance(v.data, np.ndarray)``, ``v.data.ndim``), but
everything that would turn it into a decision or into another number raises
`TracedDataError`, naming the function, the file and the line. The ops themselves compute
on the plain numbers: `apply` hands them over through `Tracer.enter` and gets the output
traced by `Tracer.leave` (the op table's ``tracer``, set only while some thread records).

Reading the number of lanes (``v.data.shape``, ``.size``, ``len``) is allowed and noted: a
recording that read it is kept for that number of rows only.

`Recording` is also what `microgradx.compiler.record` reads the graph with: the op nodes made
while ``fn`` ran (the ones the recording replays), the numbers that became constants, and the
inputs. Every other Value the graph reaches was there before (or made outside any op) and is
read afresh at every call.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import repeat
from operator import attrgetter
from threading import get_ident
from typing import Any, NoReturn, Optional

import numpy as np

from microgradx.engine.optable import OPS
from microgradx.engine.value import Value

__all__ = ["Recording", "TracedDataError", "TracedFloat", "TracedLanes", "is_traced", "recording"]


class TracedDataError(TypeError):
    """A compiled function used, while recording, the data of a Value it computes as a number.

    The message names the function, the file and line, and what to do instead.
    """


class Recording:
    """One recording in progress, in one thread: what `microgradx.compiler.record` needs to read the graph."""

    __slots__ = ("name", "rows", "inputs", "made", "constants", "reads_rows", "active")

    def __init__(self, name: str, rows: Optional[int]) -> None:
        self.name = name
        self.rows = rows  # the lanes of the array arguments (None: no lane arguments)
        self.inputs: list = []  # the input Values, made from the array arguments
        self.made: list = []  # every Value an op made while fn ran, in order
        self.constants: dict = {}  # id -> leaf Value that apply made from a number: a constant of the recording
        self.reads_rows = False  # fn asked for the number of lanes of traced data
        self.active = True

    def owns(self, v: Any) -> bool:
        """True when ``v`` is an input of this recording or a Value an op made while it ran."""
        data = v.data
        return type(data) in _TRACED and _item(data, 1) is self

    def trace_inputs(self, values: list) -> None:
        """Give the input Values traced data (for the duration of the recording)."""
        for v in values:
            v.data = (TracedLanes if v.data.__class__ is np.ndarray else TracedFloat)((v.data, self))
            self.inputs.append(v)

    def finish(self) -> None:
        """The recording is over: every Value it traced holds its plain data again."""
        self.active = False
        values = self.inputs + self.made
        try:  # (one C loop: a recording has many nodes) each still holds the traced data it was given
            deque(map(_set_data, values, map(_item, map(_data, values), repeat(0))), maxlen=0)
        except TypeError:  # one holds something else (fn assigned its data): look at each
            for v in values:
                data = v.data
                if type(data) in _TRACED and _item(data, 1) is self:
                    v.data = _item(data, 0)


# -- the traced stand-ins ------------------------------------------------------------------------

_OWN = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # microgradx/
_PASS_THROUGH = (os.path.join(_OWN, "engine") + os.sep, os.path.join(_OWN, "compiler") + os.sep)

_WHAT = {
    "bool": ("a truth value (an if, while, and, or, not on it)", "an op that decides per example (relu, abs, "
             "max-like ops of a plugin) instead of a Python if"),
    "number": ("a Python number taken out of it ({how})", "keep computing with the Value itself"),
    "compare": ("a comparison ({how}; also sorted(), max() or min() by data)", "an op that decides per example "
                "(relu, abs ...) instead of a Python comparison"),
    "arithmetic": ("arithmetic on the data ({how}): the result would be a constant of the recording",
                   "compute with the Value itself (v * 2, not v.data * 2)"),
    "index": ("indexing or iterating over its lanes", "lane reductions (lane_sum, lane_mean) or ops"),
    "numpy": ("numpy on it ({how})", "ops on the Value (the compiler replays those with numpy)"),
    "hash": ("using it as a dict key or a set member", "a decision outside the compiled function"),
    "attribute": ("its .{how}", "ops on the Value (lane_mean(), lane_sum() ...)"),
}


def _caller() -> Optional[Any]:
    """The innermost frame outside microgradx's engine and compiler: the line that used the data."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PASS_THROUGH):
        frame = frame.f_back
    return frame


def _where(frame: Any) -> str:
    if frame is None:
        return "  (no line outside microgradx)"
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, lineno).strip()
    return f'  File "{filename}", line {lineno}, in {frame.f_code.co_name}' + (f"\n    {source}" if source else "")


class _Traced(tuple):
    """The data of a Value while a compiled function records it: see the module docstring.

    A pair ``(value, recording)``, a tuple so that making one per node costs little (scalar
    recordings make hundreds of thousands); every tuple behaviour a user could reach is refused.
    """

    __slots__ = ()

    value = property(lambda self: _item(self, 0), doc="The plain data (the float or the lanes).")
    recording = property(lambda self: _item(self, 1), doc="The `Recording` that traced it.")

    def _refuse(self, kind: str, how: str = "") -> NoReturn:
        what, instead = _WHAT[kind]
        rec = self.recording
        if rec.active:
            head = (f"compiled function {rec.name!r} is recording: it runs its Python code once and replays the "
                    f"recorded ops on every later call, so the data of a Value it computes from its arguments is "
                    f"not a number it may use here:")
        else:
            head = (f"this is the traced data of a Value from the recording of compiled function {rec.name!r}, "
                    f"kept past the recording's end; read the Value's .data again (it holds numbers now):")
        raise TracedDataError(f"{head}\n{_where(_caller())}\nit uses {what.format(how=how)}. Instead: {instead}; "
                              f"or compute that number outside the compiled function; or run the function eagerly "
                              f"(uncompiled). Printing v.data is fine.")

    # printing is allowed: the numbers the recording saw
    def __repr__(self) -> str:
        return repr(self.value)

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    # decisions and numbers taken out
    def __bool__(self) -> bool:
        self._refuse("bool")

    def __float__(self) -> float:
        self._refuse("number", "float()")

    def __int__(self) -> int:
        self._refuse("number", "int()")

    def __index__(self) -> int:
        self._refuse("number", "as an index")

    def __complex__(self) -> complex:
        self._refuse("number", "complex()")

    def __round__(self, *args: Any) -> Any:
        self._refuse("number", "round()")

    def __trunc__(self) -> Any:
        self._refuse("number", "math.trunc()")

    def __floor__(self) -> Any:
        self._refuse("number", "math.floor()")

    def __ceil__(self) -> Any:
        self._refuse("number", "math.ceil()")

    def __hash__(self) -> int:
        self._refuse("hash")

    def __getitem__(self, key: Any) -> Any:
        self._refuse("index")

    def __iter__(self) -> Iterator:
        self._refuse("index")

    def __contains__(self, item: Any) -> bool:
        self._refuse("index")

    def __array__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._refuse("numpy", "np.asarray(), np.array() or a numpy function")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> NoReturn:
        self._refuse("numpy", f"np.{ufunc.__name__}")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func in _PRINTING:  # printing is fine: the numbers the recording saw
            return func(*[_item(a, 0) if type(a) in _TRACED else a for a in args], **kwargs)
        self._refuse("numpy", f"np.{func.__name__}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):  # a protocol probe (numpy's, copy's): not there
            raise AttributeError(name)
        self._refuse("attribute", f"{name}")

    def __len__(self) -> int:
        self._refuse("index")

    def count(self, *args: Any) -> NoReturn:
        self._refuse("attribute", "count()")

    def index(self, *args: Any) -> NoReturn:
        self._refuse("attribute", "index()")

    def __reduce__(self) -> NoReturn:
        self._refuse("attribute", "__reduce__ (pickling or copying it)")


def _refusing(kind: str, how: str) -> Any:
    def refuse(self: _Traced, *args: Any) -> NoReturn:
        self._refuse(kind, how)

    return refuse


_item = tuple.__getitem__  # (the plain tuple's own: _Traced refuses indexing)
_data = attrgetter("data")
_set_data = Value.data.__set__  # (the slot's own setter: the Values a recording traces are plain Values)
for _name, _symbol in (("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">="), ("eq", "=="), ("ne", "!=")):
    setattr(_Traced, f"__{_name}__", _refusing("compare", _symbol))
for _name, _symbol in (("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"), ("floordiv", "//"),
                       ("mod", "%"), ("pow", "**"), ("matmul", "@"), ("divmod", "divmod()")):
    setattr(_Traced, f"__{_name}__", _refusing("arithmetic", _symbol))
    setattr(_Traced, f"__r{_name}__", _refusing("arithmetic", _symbol))
for _name, _symbol in (("neg", "-x"), ("pos", "+x"), ("abs", "abs()")):
    setattr(_Traced, f"__{_name}__", _refusing("arithmetic", _symbol))


class TracedFloat(_Traced):
    """A traced float: ``isinstance(d, float)`` holds, so code that asks what kind of data it has still works."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return float


class TracedLanes(_Traced):
    """Traced lanes: ``isinstance(d, np.ndarray)`` holds; ``shape``, ``size`` and ``len`` mark the recording
    as one for this number of rows."""

    __slots__ = ()

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return np.ndarray

    ndim = 1
    dtype = np.dtype(np.float64)

    @property
    def shape(self) -> tuple:
        """The lanes' shape, ``(n,)``: a recording that reads it is kept for ``n`` rows only."""
        self.recording.reads_rows = True
        return self.value.shape

    @property
    def size(self) -> int:
        """The number of lanes: a recording that reads it is kept for that many rows only."""
        self.recording.reads_rows = True
        return self.value.size

    def __len__(self) -> int:
        self.recording.reads_rows = True
        return len(self.value)


TRACED = _TRACED = (TracedFloat, TracedLanes)  # the traced kinds of data
_PRINTING = (np.array2string, np.array_repr, np.array_str)


def is_traced(data: Any) -> bool:
    """True when ``data`` is a recording's traced stand-in."""
    return type(data) in _TRACED


# -- the hook apply calls ------------------------------------------------------------------------


class Tracer:
    """What `apply` calls while any thread records (``OPS.tracer``): the recording of the calling thread, if any."""

    def __init__(self) -> None:
        self.recordings: dict = {}  # thread id -> its Recording

    def enter(self, args: tuple, inputs: tuple) -> list:
        """The inputs' plain data for the op; numbers apply wrapped become the recording's constants."""
        rec = self.recordings.get(get_ident())
        if rec is None:
            return [v.data for v in inputs]
        if args != inputs:  # numbers apply made leaves of (a tuple compares its items by identity first)
            rec.constants.update((id(v), v) for arg, v in zip(args, inputs) if arg is not v)
        if len(inputs) == 2:  # (most ops: unrolled, as this runs for every node)
            x, y = inputs[0].data, inputs[1].data
            return [_item(x, 0) if type(x) in _TRACED else x, _item(y, 0) if type(y) in _TRACED else y]
        xs = []
        for v in inputs:  # (a loop, not a comprehension: cheaper for one or a few inputs)
            x = v.data
            xs.append(_item(x, 0) if type(x) in _TRACED else x)
        return xs

    def leave(self, out: Any) -> Any:
        """Trace the data of the op output ``out`` (in the recording thread)."""
        rec = self.recordings.get(get_ident())
        if rec is not None:
            data = out.data
            out.data = (TracedFloat if data.__class__ is float else TracedLanes)((data, rec))
            rec.made.append(out)
        return out

    def check_backward(self, data: Any) -> None:
        """``backward()`` from a root holding ``data`` inside a recording: refused (its gradients would be
        numbers of the recording)."""
        rec = self.recordings.get(threading.get_ident())
        if rec is not None and type(data) in _TRACED and data.recording is rec:
            raise TracedDataError(
                f"compiled function {rec.name!r} calls backward() while it records:\n{_where(_caller())}\n"
                f"the gradients would be numbers of this recording, not of later calls. Call backward() on what "
                f"the compiled call returns (out = f(X); out.backward()), or run the function eagerly")


_TRACER = Tracer()
_LOCK = threading.Lock()


@contextmanager
def recording(name: str, rows: Optional[int]) -> Iterator[Recording]:
    """Record in this thread inside the block: apply traces what it makes (see the module docstring)."""
    rec = Recording(name, rows)
    thread = get_ident()
    with _LOCK:
        outer = _TRACER.recordings.get(thread)  # a compiled function recording inside another's fn
        _TRACER.recordings[thread] = rec
        OPS.tracer = _TRACER
    try:
        yield rec
    finally:
        with _LOCK:
            if outer is None:
                del _TRACER.recordings[thread]
            else:
                _TRACER.recordings[thread] = outer
            if not _TRACER.recordings:
                OPS.tracer = None
        rec.finish()
