"""Replaying a plan on new arrays: the forward pass, the backward pass, and the results a call returns.

Closed-over Values are read at every replay and receive their gradients afterwards: float
leaves in two array operations when they are `Parameter` s held by one `ParameterStore` (a
training loop's explicit arrangement: the Trainer's, or ``with ParameterStore(params):``),
otherwise one Value at a time; a closed-over Value made by an op before the call (its data
read as it stands) passes its gradient on through its own graph, as eager backward does.
A replay never changes a Value's class.
"""

from __future__ import annotations

import threading
from operator import attrgetter
from typing import Any, Optional

import numpy as np

from microgradx.compiler.kernels import Bound, Env, Target, bind
from microgradx.compiler.params import StoreLookup
from microgradx.compiler.plan import INPUTS, PARAMS, Plan
from microgradx.engine.autograd import backward
from microgradx.engine.errors import check_seed
from microgradx.engine.op import VARIADIC, Op
from microgradx.engine.value import Value

_GRAD_LOCK = threading.Lock()
_data = attrgetter("data")  # gradients of shared parameters are added by one replay at a time


class ClosedFloats:
    """The float leaves a compiled function closes over (a model's parameters), read and updated as an array."""

    def __init__(self, values: list) -> None:
        self.values = values
        self._lookup = StoreLookup(values)

    def read(self) -> np.ndarray:
        """Every value's current number."""
        where = self._lookup()
        if where is not None:
            store, index = where
            return store.data[index]
        try:
            return np.fromiter(map(_data, self.values), dtype=np.float64, count=len(self.values))  # (a C loop)
        except (TypeError, ValueError):
            bad = next(v for v in self.values if not isinstance(v.data, float))
            raise TypeError(f"a Value the compiled function closes over held a float when recorded and now holds "
                            f"{type(bad.data).__name__} ({bad!r}); record again with a new compile()") from None

    def add_grads(self, g: np.ndarray) -> None:
        """Add ``g`` (one number per value) to the values' gradients."""
        with _GRAD_LOCK:  # looked up under the lock too: where the values live when the gradients are added
            where = self._lookup()
            if where is not None:
                store, index = where
                store.grad[index] += g
            else:
                for v, gi in zip(self.values, g.tolist()):
                    if v.grad is not None:  # (grad None: a Value that takes no gradient)
                        v.grad = v.grad + gi


#: A compiled function keeps the arrays of at most this many ended calls per recording, for later calls to reuse,
SPARE_CALLS = 2
#: each at most this many bytes (values and gradients); a bigger call's arrays are freed when it ends.
SPARE_BYTES = 16 * 2**20


class Workspace:
    """The arrays of one call (`Env`), and the plan's kernels bound to them when a later call reuses them.

    A call's arrays live as long as its `CompiledValue` s (a backward pass reads them). When the
    call ends, a function called again and again (a training loop) keeps them for its next call
    with the same number of rows (`Workspaces`), so that call allocates nothing and runs kernels
    bound to the arrays (`microgradx.compiler.kernels.bind`: every view made once). A backward
    pass on reused arrays uses the workspace's own gradient arrays: where a kernel is the first
    to reach some rows in the pass it writes its gradient there instead of adding it, and only
    the rows that are added to or read before anything wrote them are zeroed first (`_Pass`).
    Two passes at once on one call's arrays (threads) make the second use fresh arrays.
    """

    __slots__ = ("plan", "env", "rows", "nbytes", "inputs", "closed", "steps", "bound", "passes", "modes", "busy")

    def __init__(self, plan: Plan, rows: Optional[int]) -> None:
        width = lambda s: rows if s == plan.rows_space else s  # the rows space holds this call's rows
        data = {s: (np.empty((n, width(s))) if s else np.empty(n)) for s, n in plan.sizes.items()}
        for space, (first, values) in plan.constants.items():
            data[space][first:first + len(values)] = values  # (no kernel writes there: kept for reuse)
        for space, row in plan.ones:
            data[space][row] = 1.0
        self.plan, self.env, self.rows = plan, Env(data), rows
        # where each array argument goes (its columns' rows, or its numbers'), and the closed-over floats
        self.inputs = [(k, data[spec[0]][spec[1]:spec[1] + spec[2]]) for k, spec in enumerate(plan.input_rows)
                       if spec is not None]
        first = plan.closed_float_first
        self.closed = data[0][first:first + len(plan.closed_float)] if plan.closed_float else None
        self.nbytes = 2 * sum(a.nbytes for a in data.values())
        self.steps: Optional[list] = None  # the kernels' bound forwards, once bound
        self.bound: dict = {}  # kernel -> its `Bound` on these arrays
        self.passes: dict = {}  # (seeded outputs' bits, variant) -> _Pass
        self.modes: Any = None  # the key of the pass whose write-or-add modes the targets are set for
        self.busy = threading.Lock()  # held by the backward pass using this workspace's gradient arrays

    def bind(self) -> None:
        """Bind the plan's kernels to these arrays (and gradient arrays of this workspace's own)."""
        env = self.env
        env.grad = {s: np.full(d.shape, np.nan) for s, d in env.data.items()}  # each pass zeroes what it reads
        self.steps = [self._bound(kernel).forward for kernel in self.plan.kernels]

    def _bound(self, kernel: Any) -> Bound:
        found = self.bound.get(kernel)
        if found is None:
            found = self.bound[kernel] = bind(kernel, self.env)
        return found

    def backward_pass(self, seeded: int, variant: int) -> _Pass:
        """The backward pass from the outputs ``seeded`` (bits) in ``variant``, its targets set to write or add."""
        key = (seeded, variant)
        found = self.passes.get(key)
        if found is None:
            found = _Pass(self, seeded, variant)
            if len(self.passes) < 16:
                self.passes[key] = found
        if self.modes != key:
            for target, assign in found.modes:
                target.assign(assign)
            self.modes = key
        return found


class _Pass:
    """One backward pass on a workspace's gradient arrays: its bound steps, the rows to zero, each target's mode.

    Worked out once per seeded outputs and variant by going through the steps in order, as they
    will run: a target none of whose rows anything reached before writes its gradient
    (`microgradx.compiler.kernels.Target`); rows that are added to or read before anything wrote
    them are zeroed before the pass, and so are rows read after it (the closed-over Values' and,
    for input gradients, the inputs'). A step whose writes are not known makes the pass zero
    everything and add everywhere.
    """

    __slots__ = ("steps", "zero", "modes")

    def __init__(self, ws: Workspace, seeded: int, variant: int) -> None:
        plan, grad = ws.plan, ws.env.grad
        bounds = [ws._bound(kernel) for kernel, wanted in plan.backward_kernels(seeded) if wanted[variant]]
        self.steps = [b.backward for b in bounds]
        written = {s: np.zeros(len(g), dtype=bool) for s, g in grad.items()}
        zero = {s: np.zeros(len(g), dtype=bool) for s, g in grad.items()}

        def reach(space: int, rows: Any) -> np.ndarray:
            """Mark ``rows`` as reached; return which of them were not reached before."""
            rows = np.asarray(rows, dtype=np.intp).ravel()
            fresh = ~written[space][rows]
            written[space][rows] = True
            return rows[fresh]

        for k in range(len(plan.program.outputs)):  # the seeds are added to their rows
            if seeded >> k & 1:
                v = plan.program.outputs[k]
                zero[int(plan.space_of[v])][reach(int(plan.space_of[v]), [plan.row_of[v]])] = True
        self.modes: list = []
        if all(b.writes is not None for b in bounds):
            for b in bounds:
                for space, rows in b.reads:
                    rows = np.asarray(rows, dtype=np.intp).ravel()
                    zero[space][rows[~written[space][rows]]] = True
                for t in b.writes(variant):
                    space, rows = (t.space, t.rows) if isinstance(t, Target) else t
                    count = np.asarray(rows).size
                    fresh = reach(space, rows)
                    if isinstance(t, Target):
                        assign = t.assignable and len(fresh) == count
                        self.modes.append((t, assign))
                        if assign:
                            continue
                    zero[space][fresh] = True
        else:
            for b in bounds:
                self.modes += [(t, False) for t in (b.writes(variant) if b.writes is not None else [])
                               if isinstance(t, Target)]
            for z in zero.values():
                z[:] = True
        read_after = []
        if plan.closed_float:
            read_after.append((0, range(plan.closed_float_first, plan.closed_float_first + len(plan.closed_float))))
        read_after += [(s, [r]) for s, r, _ in plan.closed_read]
        if variant == INPUTS:
            read_after += [(spec[0], range(spec[1], spec[1] + spec[2])) for spec in plan.input_rows if spec]
        for space, rows in read_after:
            rows = np.asarray(rows, dtype=np.intp)
            zero[space][rows[~written[space][rows]]] = True
        self.zero = [grad[s][a:b].fill for s, z in zero.items() for a, b in _runs(z)]


def _runs(mask: np.ndarray, most: int = 8) -> list:
    """The runs of True in ``mask`` as ``(start, stop)`` pairs; at most ``most`` (the gaps between runs filled)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    runs = list(zip(edges[0::2].tolist(), edges[1::2].tolist()))
    if len(runs) > most:
        return [(runs[0][0], runs[-1][1])]
    return runs


class Workspaces:
    """The arrays of a recording's ended calls, kept for its next calls (see `Workspace`).

    Taking and giving back are single list operations (atomic under the GIL), so an ended call
    may give its arrays back from any thread, also from inside a garbage collection.
    """

    __slots__ = ("plan", "spare", "calls")

    def __init__(self, plan: Plan) -> None:
        self.plan, self.spare, self.calls = plan, [], 0

    def take(self, rows: Optional[int]) -> Workspace:
        """Arrays for a call of ``rows`` rows: an ended call's (bound to the kernels), or new ones."""
        self.calls += 1  # (a count two threads may race on: it only says whether calls repeat)
        spare = self.spare
        for ws in reversed(spare):
            if ws.rows == rows:
                try:
                    spare.remove(ws)
                except ValueError:  # another thread took it first
                    continue
                if ws.steps is None:
                    ws.bind()
                return ws
        return Workspace(self.plan, rows)

    def give_back(self, ws: Workspace) -> None:
        """An ended call's arrays: kept when the recording is called again and again, the oldest dropped for room."""
        if self.calls > 1 and ws.nbytes <= SPARE_BYTES:
            spare = self.spare
            spare.append(ws)
            if len(spare) > SPARE_CALLS:
                try:
                    del spare[0]
                except IndexError:  # (another thread's take emptied it meanwhile)
                    pass


def forward(plan: Plan, arrays: list, lanes_mode: bool, closed: ClosedFloats,
            ws: Optional[Workspace] = None) -> Workspace:
    """Run ``plan`` on the argument arrays (None for the other arguments): every value, in its rows.

    ``ws``: the arrays to use (new ones if None).
    """
    if ws is None:
        ws = Workspace(plan, next((a.shape[0] for a in arrays if a is not None), None) if lanes_mode else None)
    data = ws.env.data
    for k, rows in ws.inputs:
        a = arrays[k]
        if not lanes_mode:
            rows[...] = a.ravel()
        else:
            rows[...] = a.T if a.ndim == 2 else a
    if ws.closed is not None:
        ws.closed[...] = closed.read()
    for space, row, value in plan.closed_read:
        if space and (not isinstance(value.data, np.ndarray) or value.data.shape != (space,)):
            raise ValueError(f"a lane Value the compiled function closes over had {space} lanes when recorded, "
                             f"now {value!r}; record again with a new compile()")
        if not space and isinstance(value.data, np.ndarray):
            raise TypeError(f"a Value the compiled function closes over held a float when recorded and now holds "
                            f"lanes ({value!r}); record again with a new compile()")
        data[space][row] = value.data
    if ws.steps is not None:
        for step in ws.steps:
            step()
    else:
        env = ws.env
        for kernel in plan.kernels:
            kernel.forward(env)
    return ws


def _through_their_graphs(pairs: list) -> None:
    """Pass each closed-over op node's gradient on through its own graph: one eager backward pass from all.

    Eager backward from fn's output would visit those graphs in the same pass (resetting their
    nodes' gradients once, then adding every share), so one root stands above them all.
    """
    values, grads = tuple(v for v, _ in pairs), tuple(g for _, g in pairs)
    seeds = Op(name="compiled_call", arity=VARIADIC, forward=lambda *xs: 0.0, backward=lambda g, out, *xs: grads,
               doc="stands for a compiled call above the graphs of the Values it closes over")
    backward(Value(0.0, values, seeds))


class Call:
    """One call of a compiled function: its arrays, kept for the backward pass (see `CompiledValue`).

    When the call ends (its outputs are gone) its arrays go back to ``workspaces`` for reuse.
    """

    def __init__(self, plan: Plan, ws: Workspace, shapes: list, lanes_mode: bool, closed: ClosedFloats,
                 workspaces: Optional[Workspaces] = None) -> None:
        self.plan, self.ws, self.shapes, self.lanes_mode, self.closed = plan, ws, shapes, lanes_mode, closed
        self.env = ws.env
        self._workspaces = workspaces

    def __del__(self) -> None:
        if self._workspaces is not None:
            try:
                self._workspaces.give_back(self.ws)
            except Exception:  # (at interpreter exit, say: the arrays are simply freed)
                pass

    def value(self, k: int) -> Any:
        """The data of output ``k``: a float, or a copy of its lanes."""
        space, row = self.plan.output_at[k]
        return self.env.data[space][row].copy() if space else float(self.env.data[0][row])

    def data_of(self, v: int) -> Any:
        """The data of value ``v`` of the program: a float, or a copy of its lanes."""
        space, row = int(self.plan.space_of[v]), int(self.plan.row_of[v])
        return self.env.data[space][row].copy() if space else float(self.env.data[0][row])

    def backward(self, seeds: list, inputs: bool) -> Optional[list]:
        """Back-propagate from the values and seeds ``[(output index, grad), ...]``: closed-over Values' grads.

        Returns the inputs' gradients when asked (else None).
        """
        ws = self.ws
        self._check_unchanged()
        own = ws.steps is not None and ws.busy.acquire(blocking=False)  # the workspace's bound gradient arrays
        try:
            return self._backward(seeds, inputs, own)
        finally:
            if own:
                ws.busy.release()

    def _backward(self, seeds: list, inputs: bool, own: bool) -> Optional[list]:
        plan, ws = self.plan, self.ws
        variant = INPUTS if inputs else PARAMS
        seeded = 0
        for k, _ in seeds:
            seeded |= 1 << k
        if own:
            env, work = ws.env, ws.backward_pass(seeded, variant)
            for fill in work.zero:
                fill(0.0)
        else:  # this pass's gradients: two passes never share them
            env = Env(ws.env.data)
            env.grad = {s: np.zeros(d.shape) for s, d in env.data.items()}
        for k, grad in seeds:
            space, row = plan.output_at[k]
            seed = check_seed(env.data[space][row] if space else float(env.data[0][row]), grad)
            env.grad[space][row] += seed
        if own:
            for step in work.steps:
                step(variant)
        else:
            for kernel, wanted in plan.backward_kernels(seeded):
                if wanted[variant]:
                    kernel.backward(env, variant)
        if plan.closed_float:
            first = plan.closed_float_first
            self.closed.add_grads(env.grad[0][first:first + len(plan.closed_float)])
        with _GRAD_LOCK:
            for s, r, value in plan.closed_lanes:
                if value.grad is not None:
                    value.grad = value.grad + env.grad[s][r]
        if plan.closed_nodes:
            _through_their_graphs([(value, env.grad[s][r].copy() if s else float(env.grad[0][r]))
                                   for s, r, value in plan.closed_nodes])
        input_grads = None
        if inputs:
            input_grads = [self._input_grad(env, spec, shape) for spec, shape in zip(plan.input_rows, self.shapes)]
        return input_grads

    def _check_unchanged(self) -> None:
        """Refuse a backward after a Value the call read has changed (as PyTorch refuses one after an in-place
        change): eager backward would take local derivatives at the new number, the replay has the old."""
        plan, data = self.plan, self.env.data
        changed = None
        if plan.closed_float:
            first = plan.closed_float_first
            was, now = data[0][first:first + len(plan.closed_float)], self.closed.read()
            if not (was == now).all() and not np.array_equal(was, now, equal_nan=True):  # (the quick test first)
                k = int(np.argmax(~((was == now) | (np.isnan(was) & np.isnan(now)))))
                changed = (plan.closed_float[k], float(was[k]))
        for s, r, value in plan.closed_read:
            if changed is None and not np.array_equal(data[s][r] if s else float(data[0][r]), value.data,
                                                      equal_nan=True):
                changed = (value, data[s][r] if s else float(data[0][r]))
        if changed is not None:
            raise RuntimeError(f"backward() of a compiled call: {changed[0]!r}, which the call read, has changed since "
                               f"(it held {changed[1]!r}); the call's gradients belong to the numbers it read. Call "
                               f"backward() before changing parameters (an optimizer's step() after backward()), or "
                               f"call the compiled function again")

    def _input_grad(self, env: Env, spec: Any, shape: Any) -> Optional[np.ndarray]:
        if spec is None:
            return None
        space, first, count = spec
        block = env.grad[space][first:first + count]
        if self.lanes_mode:
            return block.T.copy() if len(shape) == 2 else block[0].copy()
        return block.reshape(shape).copy()


def backward_many(outputs: Any, grads: list, inputs: bool = False) -> None:
    """One backward pass from several outputs of one call, each seeded with its gradient (None: skipped)."""
    seeds = [(o._output, g) for o, g in zip(outputs, grads) if g is not None]
    if any(o._call is not outputs[0]._call for o in outputs):
        raise ValueError("backward_many takes the outputs of one call of a compiled function")
    if seeds:
        outputs[0]._call.backward(seeds, inputs)


class CompiledValue:
    """An output of a compiled call, used like the Value the eager call would return.

    ``data`` is the output (a float or an array of lanes); ``backward(grad=None,
    inputs=False)`` adds to the ``grad`` of every Value the function closes over what the
    eager graph's backward would add; with ``inputs=True`` also ``input_grads``, one array
    per array argument (shaped like it; None for other arguments).
    """

    __slots__ = ("_call", "_output", "_input_grads", "data")

    def __init__(self, call: Call, output: int) -> None:
        self._call, self._output = call, output  # which of the call's outputs this is
        self._input_grads: Optional[list] = None
        self.data = call.value(output)

    def backward(self, grad: Any = None, inputs: bool = False) -> None:
        """Back-propagate from this output (see the class docstring)."""
        input_grads = self._call.backward([(self._output, grad)], inputs)
        if inputs:
            self._input_grads = input_grads

    @property
    def input_grads(self) -> Optional[list]:
        """After ``backward(inputs=True)``: d(this output)/d(argument) for each array argument."""
        return self._input_grads

    @property
    def is_lanes(self) -> bool:
        """True when ``data`` is an array of lanes."""
        return isinstance(self.data, np.ndarray)

    def item(self) -> float:
        """The data as a float (one lane at most)."""
        if isinstance(self.data, np.ndarray):
            if self.data.size != 1:
                raise ValueError(f"item() needs one number; this output has {self.data.size} lanes")
            return float(self.data[0])
        return self.data

    __float__ = item

    def __repr__(self) -> str:
        return f"CompiledValue(data={self.data!r})"
