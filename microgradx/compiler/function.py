"""`compile`: a function of Values, recorded once per argument signature and replayed on arrays."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from microgradx.collector import gc_paused
from microgradx.compiler.check import compare
from microgradx.compiler.plan import Plan, make_plan
from microgradx.compiler.record import classify_leaves, input_positions, input_values, outputs_of, read_graph
from microgradx.compiler.replay import Call, ClosedFloats, CompiledValue, forward
from microgradx.engine.anomaly import is_anomaly_enabled

#: How many recordings (argument signatures) a compiled function keeps; the least recently used goes first.
MAX_RECORDINGS = 32


class CompiledFunction:
    """``fn`` compiled: call it with numpy arrays (see `microgradx.compile`)."""

    def __init__(self, fn: Callable[..., Any], lanes: bool = True, check: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"compile() takes a function, got {type(fn).__name__}")
        self.fn, self.lanes, self.check = fn, bool(lanes), bool(check)
        self._recordings: OrderedDict = OrderedDict()  # signature -> (Plan, ClosedFloats)
        self._lock = threading.Lock()
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", "compiled")

    def __call__(self, *args: Any) -> Any:
        """Replay the recording for these arguments' signature (recording it first if there is none).

        Inside ``detect_anomaly()`` the function runs eagerly instead (and returns its Values), so
        that anomaly mode checks every op as it runs.
        """
        arrays, key = self._arguments(args)
        if is_anomaly_enabled():
            values = input_values(arrays, self.lanes)
            return self.fn(*[args[i] if a is None else values[i] for i, a in enumerate(arrays)])
        recording = self._recordings.get(key)
        if recording is None:
            recording = self._record(args, arrays, key)
        else:
            try:
                self._recordings.move_to_end(key)  # the most recently used
            except KeyError:  # another thread's recording evicted it since: this call still has it
                pass
        plan, closed = recording
        env = forward(plan, arrays, self.lanes, closed)
        call = Call(plan, env, [None if a is None else a.shape for a in arrays], self.lanes, closed)
        if self.check:
            self._compare(plan, call, args, arrays)
        outputs = tuple(CompiledValue(call, v) for v in plan.program.outputs)
        return outputs[0] if plan.program.single else outputs

    @property
    def recordings(self) -> int:
        """How many argument signatures have been recorded (and kept)."""
        return len(self._recordings)

    def _arguments(self, args: tuple) -> tuple:
        """(arrays or None per argument, the signature): arrays checked, the other arguments hashed."""
        arrays, key = [], [self.lanes]
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):
                if a.ndim not in (1, 2):
                    raise ValueError(f"compiled {self.__name__}: argument {i} is a {a.ndim}-D array of shape "
                                     f"{a.shape}; array arguments are 1-D (one number per example) or 2-D "
                                     f"(examples x features)")
                if a.dtype.kind not in "fiub" or a.dtype.kind == "b":
                    raise TypeError(f"compiled {self.__name__}: argument {i} is an array of dtype {a.dtype}; "
                                    f"array arguments hold real numbers")
                if a.size == 0:
                    raise ValueError(f"compiled {self.__name__}: argument {i} is an empty array of shape {a.shape}")
                arrays.append(np.asarray(a, dtype=np.float64))
                key.append(("array", a.shape, a.dtype.str))
            else:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(f"compiled {self.__name__}: argument {i} is a {type(a).__name__}, neither a "
                                    f"numpy array (an input) nor hashable (a setting, part of the recording's "
                                    f"signature); pass numbers as numpy arrays") from None
                arrays.append(None)
                key.append(("value", type(a).__name__, a))
        if self.lanes:
            rows = {i: a.shape[0] for i, a in enumerate(arrays) if a is not None}
            if len(set(rows.values())) > 1:
                listed = ", ".join(f"argument {i}: {n}" for i, n in rows.items())
                raise ValueError(f"compiled {self.__name__} (lanes=True): the array arguments' rows are the lanes, "
                                 f"so they must agree ({listed})")
        return arrays, tuple(key)

    def _record(self, args: tuple, arrays: list, key: tuple) -> tuple:
        with self._lock:  # one recording per signature, also when two threads call at once
            recording = self._recordings.get(key)
            if recording is not None:
                return recording
            with gc_paused():  # a big graph is built and read here: the cyclic collector would rescan it
                values = input_values(arrays, self.lanes)
                result = self.fn(*[args[i] if a is None else values[i] for i, a in enumerate(arrays)])
                outputs = outputs_of(result)
                if outputs is None:
                    raise TypeError(f"compiled {self.__name__}: the function must return a Value or a tuple or "
                                    f"list of Values, got {type(result).__name__}")
                program = read_graph(*outputs)
                del result, outputs  # the eager graph goes: only the program holds what it needs
                classify_leaves(program, input_positions(values))
                plan = make_plan(program, [None if a is None else a.shape for a in arrays], self.lanes)
                program.data = []  # every node's recorded number: as big as the eager graph, and never read again
            closed = ClosedFloats(plan.closed_float)
            self._recordings[key] = recording = (plan, closed)
            while len(self._recordings) > MAX_RECORDINGS:
                self._recordings.popitem(last=False)
            return recording

    def _compare(self, plan: Plan, call: Call, args: tuple, arrays: list) -> None:
        """``check=True``: run ``fn`` eagerly too and name the first node where the recording differs."""
        with gc_paused():
            values = input_values(arrays, self.lanes)
            result = self.fn(*[args[i] if a is None else values[i] for i, a in enumerate(arrays)])
            outputs = outputs_of(result)
            eager = read_graph(*outputs) if outputs else None
            del result, outputs
            compare(self.__name__, plan.program, eager, input_positions(values), call.value)
