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

from microgradx.compiler.plan import INPUTS, PARAMS, Plan
from microgradx.compiler.rows import Env
from microgradx.compiler.workspace import Workspace, Workspaces
from microgradx.engine.autograd import backward
from microgradx.engine.errors import check_seed
from microgradx.engine.op import VARIADIC, Op
from microgradx.engine.parameter import StoreLookup
from microgradx.engine.value import Value

_GRAD_LOCK = threading.Lock()  # gradients of shared parameters are added by one replay at a time
_data = attrgetter("data")


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
