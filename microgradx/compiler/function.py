"""`compile`: a function of Values, recorded once per argument signature and replayed on arrays."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.collector import gc_paused
from microgradx.compiler.check import compare
from microgradx.compiler.plan import Plan, make_plan
from microgradx.compiler.record import input_positions, input_values, outputs_of, read_graph
from microgradx.compiler.replay import Call, ClosedFloats, CompiledValue, Workspaces, forward
from microgradx.compiler.trace import recording
from microgradx.engine.anomaly import is_anomaly_enabled
from microgradx.engine.optable import OPS

#: How many recordings (argument signatures) a compiled function keeps; the least recently used goes first.
MAX_RECORDINGS = 32
#: `CompiledFunction.forward` records on at most this many rows (a recording serves any number of rows).
RECORD_ROWS = 64
#: `CompiledFunction.forward` replays in chunks of rows whose values take about this many bytes.
CHUNK_BYTES = 32 * 2**20


@attrs.define(eq=False)
class Recorded:
    """One recording: its plan, its closed-over floats, the table ops it was made with (to notice a replacement),
    and the arrays of its ended calls, kept for reuse (not part of the recording: see `Workspace`)."""

    plan: Plan
    closed: ClosedFloats
    table_ops: tuple  # (op name, the op the op table held under it when recording), for the names of the nodes' ops
    workspaces: Workspaces = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.workspaces = Workspaces(self.plan)

    def current(self) -> bool:
        """False when a plugin replaced an op the recording replays (the table holds another under that name)."""
        for name, op in self.table_ops:
            if dict.get(OPS, name) is not op:
                return False
        return True


class CompiledFunction:
    """``fn`` compiled: call it with numpy arrays (see `microgradx.compile`)."""

    def __init__(self, fn: Callable[..., Any], lanes: bool = True, check: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"compile() takes a function, got {type(fn).__name__}")
        self.fn, self.lanes, self.check = fn, bool(lanes), bool(check)
        self._recordings: OrderedDict = OrderedDict()  # signature (with the rows, if fn depends on them) -> Recorded
        self._lock = threading.Lock()
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", "compiled")

    def __call__(self, *args: Any) -> Any:
        """Replay the recording for these arguments' signature (recording it first if there is none).

        Inside ``detect_anomaly()`` the function runs eagerly instead (and returns its Values), so
        that anomaly mode checks every op as it runs.
        """
        arrays, key, rows = self._arguments(args)
        if is_anomaly_enabled():
            return self._eager(args, arrays)
        recorded = self._recording(args, arrays, key, rows, rows)
        workspaces = recorded.workspaces
        ws = forward(recorded.plan, arrays, self.lanes, recorded.closed, workspaces.take(rows))
        call = Call(recorded.plan, ws, [None if a is None else a.shape for a in arrays], self.lanes, recorded.closed,
                    workspaces)
        if self.check:
            self._compare(recorded.plan, call, args, arrays)
        program = recorded.plan.program
        outputs = tuple(CompiledValue(call, k) for k in range(len(program.outputs)))
        return outputs[0] if program.single else outputs

    def forward(self, *args: Any) -> Any:
        """The outputs' data only (floats or lane arrays; a tuple for several outputs), with no backward to follow.

        For predictions and evaluation: in lane mode the recording is made on a few rows and
        replayed on chunks of rows, so memory stays bounded whatever the number of rows (when
        every output has a number per row; a function that reduces over the rows runs whole).
        """
        arrays, key, rows = self._arguments(args)
        if is_anomaly_enabled():
            result = self._eager(args, arrays)
            datas = tuple(v.data for v in (result if isinstance(result, (tuple, list)) else [result]))
            return datas if isinstance(result, (tuple, list)) else datas[0]
        small = None if rows is None else min(rows, RECORD_ROWS)
        recorded = self._recording(args, arrays, key, rows, small)
        plan = recorded.plan
        lane_outputs = all(plan.space_of[v] == plan.rows_space for v in plan.program.outputs)
        if rows is None or plan.rows_space is None or not lane_outputs:
            call = Call(plan, forward(plan, arrays, self.lanes, recorded.closed), [], self.lanes, recorded.closed)
            datas = tuple(call.value(k) for k in range(len(plan.program.outputs)))
        else:
            step = max(256, CHUNK_BYTES // (8 * max(1, plan.sizes[plan.rows_space])))
            datas = tuple(np.empty(rows) for _ in plan.program.outputs)
            for start in range(0, rows, step):
                part = [None if a is None else a[start:start + step] for a in arrays]
                env = forward(plan, part, self.lanes, recorded.closed).env
                for out, v in zip(datas, plan.program.outputs):
                    out[start:start + step] = env.data[plan.rows_space][plan.row_of[v]]
        return datas[0] if plan.program.single else datas

    @property
    def recordings(self) -> int:
        """How many recordings are kept (one per argument signature, and per row count if fn reads it)."""
        return len(self._recordings)

    def _eager(self, args: tuple, arrays: list) -> Any:
        values = input_values(arrays, self.lanes)
        return self.fn(*[args[i] if a is None else values[i] for i, a in enumerate(arrays)])

    def _arguments(self, args: tuple) -> tuple:
        """(arrays or None per argument, the signature, the rows of lane arguments or None).

        The signature holds each array's kind (its number of columns in lane mode, where the
        rows are the lanes; its shape otherwise) and each other argument with its type (and a
        float's sign: 0.0 and -0.0 are different settings).
        """
        arrays, key = [], [self.lanes]
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):
                if a.ndim not in (1, 2):
                    raise ValueError(f"compiled {self.__name__}: argument {i} is a {a.ndim}-D array of shape "
                                     f"{a.shape}; array arguments are 1-D (one number per example) or 2-D "
                                     f"(examples x features)")
                if a.dtype.kind not in "fiu":
                    raise TypeError(f"compiled {self.__name__}: argument {i} is an array of dtype {a.dtype}; "
                                    f"array arguments hold real numbers")
                if a.size == 0:
                    raise ValueError(f"compiled {self.__name__}: argument {i} is an empty array of shape {a.shape}")
                arrays.append(np.asarray(a, dtype=np.float64))
                key.append(("array", a.shape[1:]) if self.lanes else ("array", a.shape))
            else:
                try:
                    key.append(("setting", _setting(a)))
                except TypeError:
                    raise TypeError(f"compiled {self.__name__}: argument {i} is a {type(a).__name__}, neither a "
                                    f"numpy array (an input) nor hashable (a setting, part of the recording's "
                                    f"signature); pass numbers as numpy arrays") from None
                arrays.append(None)
        rows = None
        if self.lanes:
            counts = {i: a.shape[0] for i, a in enumerate(arrays) if a is not None}
            if len(set(counts.values())) > 1:
                listed = ", ".join(f"argument {i}: {n}" for i, n in counts.items())
                raise ValueError(f"compiled {self.__name__} (lanes=True): the array arguments' rows are the lanes, "
                                 f"so they must agree ({listed})")
            rows = next(iter(counts.values()), None)
        return arrays, tuple(key), rows

    def _recording(self, args: tuple, arrays: list, key: tuple, rows: Optional[int], record_rows: Optional[int]) -> Any:
        """The recording that serves this call: one for any row count, or this row count's (recorded if missing)."""
        for k in (key, (*key, ("rows", rows))):
            recorded = self._recordings.get(k)
            if recorded is not None:
                if recorded.current():
                    try:
                        self._recordings.move_to_end(k)  # the most recently used
                    except KeyError:  # another thread's recording evicted it since: this call still has it
                        pass
                    return recorded
                self._recordings.pop(k, None)  # an op it replays was replaced: record again
        with self._lock:  # one recording per signature, also when two threads call at once
            recorded = self._recordings.get(key) or self._recordings.get((*key, ("rows", rows)))
            if recorded is not None and recorded.current():
                return recorded
            if record_rows is not None and record_rows != rows:
                part = [None if a is None else a[:record_rows] for a in arrays]
                recorded, by_rows = self._record(args, part)
                if by_rows:  # fn depends on the number of rows: record the call's own
                    recorded, by_rows = self._record(args, arrays)
            else:
                recorded, by_rows = self._record(args, arrays)
            self._recordings[(*key, ("rows", rows)) if by_rows else key] = recorded
            while len(self._recordings) > MAX_RECORDINGS:
                self._recordings.popitem(last=False)
            return recorded

    def _record(self, args: tuple, arrays: list) -> tuple:
        """Run ``fn`` under a recording and plan it: ``(Recorded, whether it holds for these rows only)``."""
        rows = next((a.shape[0] for a in arrays if a is not None), None) if self.lanes else None
        with gc_paused():  # a big graph is built, read and freed here (it holds no cycles: the collector would only
            with recording(self.__name__, rows) as rec:  # scan it, again and again)
                values = input_values(arrays, self.lanes)
                rec.trace_inputs(_flat(values))
                result = self.fn(*[args[i] if a is None else values[i] for i, a in enumerate(arrays)])
                outputs = outputs_of(result)
                if outputs is None:
                    raise TypeError(f"compiled {self.__name__}: the function must return a Value or a tuple or "
                                    f"list of Values, got {type(result).__name__}")
                program = read_graph(*outputs, rec, input_positions(values))
                del result, outputs, values
            rec.made.clear()  # the eager graph goes (the recording is over): only the program holds what it needs
            rec.inputs.clear()
            by_rows = rows is not None and (rec.reads_rows or any(
                kind != "input" and lanes == rows for (kind, *_), lanes in zip(program.leaves, program.lanes)))
            plan = make_plan(program, [None if a is None else a.shape for a in arrays], self.lanes)
        program.data = []  # every node's recorded number: as big as the eager graph, and never read again
        # the table's op under each name the nodes' ops have (a constant exponent's op is the table's pow's)
        table_ops = tuple({op.name: dict.get(OPS, op.name) for op in program.made_with
                           if dict.get(OPS, op.name) is not None}.items())
        return Recorded(plan, ClosedFloats(plan.closed_float), table_ops), by_rows

    def _compare(self, plan: Plan, call: Call, args: tuple, arrays: list) -> None:
        """``check=True``: run ``fn`` eagerly too and name the first node where the recording differs."""
        with gc_paused(), recording(self.__name__, None) as rec:
            values = input_values(arrays, self.lanes)
            rec.trace_inputs(_flat(values))
            result = self.fn(*[args[i] if a is None else values[i] for i, a in enumerate(arrays)])
            outputs = outputs_of(result)
            eager = read_graph(*outputs, rec, input_positions(values)) if outputs else None
            del result, outputs
        compare(self.__name__, plan.program, eager, call.data_of)


def _flat(values: list) -> list:
    """Every input Value of `input_values`' lists, in order."""
    flat: list = []
    for vs in values:
        if vs is None:
            continue
        for row in [vs] if not isinstance(vs, list) else vs:
            flat.extend(row if isinstance(row, list) else [row])
    return flat


def _setting(a: Any) -> Any:
    """A non-array argument as part of a signature: its type with it, a float by its bits (0.0 is not -0.0)."""
    if isinstance(a, float):
        return type(a), a.hex() if math.isfinite(a) else repr(a)
    if isinstance(a, tuple):
        return tuple, tuple(_setting(x) for x in a)
    if isinstance(a, frozenset):
        return frozenset, frozenset(_setting(x) for x in a)
    hash(a)
    return type(a), a
