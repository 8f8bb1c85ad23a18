"""Replaying a plan on new arrays: the forward pass, the backward pass, and the results a call returns.

Closed-over float leaves are read at every replay and receive their gradients afterwards:
when they are `Parameter` s that share one `ParameterStore` (a compiled training step binds
them, and so does a replay whose Parameters no store holds yet), in two array operations on
the store; otherwise one Value at a time.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

import numpy as np

from microgradx.compiler.kernels import Env
from microgradx.compiler.params import Parameter, ParameterStore, StoreLookup
from microgradx.compiler.plan import INPUTS, PARAMS, Plan
from microgradx.engine.errors import check_seed

_GRAD_LOCK = threading.Lock()  # gradients of shared parameters are added by one replay at a time


class ClosedFloats:
    """The float leaves a compiled function closes over (a model's parameters), read and updated as an array."""

    def __init__(self, values: list) -> None:
        self.values = values
        self._lookup = StoreLookup(values)
        self._bound = -1  # ParameterStore.generation when binding the values to a store of their own was last tried

    def _resolve(self) -> Optional[tuple]:
        """``(store, index)`` of the values, binding Parameters that no store holds yet; None: one by one."""
        where = self._lookup()
        if where is None and self._bound != ParameterStore.generation:
            values = self.values
            if values and all(isinstance(v, Parameter) and v._store is None and v.grad is not None for v in values):
                ParameterStore(values)  # Parameters no store holds yet: keep them in one array from now on
                where = self._lookup()
            self._bound = ParameterStore.generation
        return where

    def read(self) -> np.ndarray:
        """Every value's current number."""
        where = self._resolve()
        if where is not None:
            store, index = where
            return store.data[index]
        try:
            return np.fromiter([v.data for v in self.values], dtype=np.float64, count=len(self.values))
        except (TypeError, ValueError):
            bad = next(v for v in self.values if not isinstance(v.data, float))
            raise TypeError(f"a Value the compiled function closes over held a float when recorded and now holds "
                            f"{type(bad.data).__name__} ({bad!r}); record again with a new compile()") from None

    def add_grads(self, g: np.ndarray) -> None:
        """Add ``g`` (one number per value) to the values' gradients."""
        with _GRAD_LOCK:  # looked up under the lock too: where the values live when the gradients are added
            where = self._resolve()
            if where is not None:
                store, index = where
                store.grad[index] += g
            else:
                for v, gi in zip(self.values, g.tolist()):
                    if v.grad is not None:  # (grad None: a Value that takes no gradient)
                        v.grad = v.grad + gi


def forward(plan: Plan, arrays: list, lanes_mode: bool, closed: ClosedFloats) -> Env:
    """Run ``plan`` on the argument arrays (None for the other arguments): every value, in its rows."""
    data = {s: (np.empty((n, s)) if s else np.empty(n)) for s, n in plan.sizes.items()}
    for a, spec in zip(arrays, plan.input_rows):
        if spec is not None:
            space, first, count = spec
            if lanes_mode:
                data[space][first:first + count] = a.T if a.ndim == 2 else a
            else:
                data[0][first:first + count] = a.ravel()
    if plan.closed_float:
        first = plan.closed_float_first
        data[0][first:first + len(plan.closed_float)] = closed.read()
    for space, row, value in plan.closed_lanes:
        if not isinstance(value.data, np.ndarray) or value.data.shape != (space,):
            raise ValueError(f"a lane Value the compiled function closes over had {space} lanes when recorded, "
                             f"now {value!r}")
        data[space][row] = value.data
    for space, (first, values) in plan.constants.items():
        data[space][first:first + len(values)] = values
    env = Env(data)
    for kernel in plan.kernels:
        kernel.forward(env)
    return env


class Call:
    """One call of a compiled function: its arrays, kept for the backward pass (see `CompiledValue`)."""

    def __init__(self, plan: Plan, env: Env, shapes: list, lanes_mode: bool, closed: ClosedFloats) -> None:
        self.plan, self.env, self.shapes, self.lanes_mode, self.closed = plan, env, shapes, lanes_mode, closed

    def value(self, v: int) -> Any:
        """The data of value ``v``: a float, or a copy of its lanes."""
        space, row = int(self.plan.space_of[v]), int(self.plan.row_of[v])
        return self.env.data[space][row].copy() if space else float(self.env.data[0][row])

    def backward(self, seeds: list, inputs: bool) -> Optional[list]:
        """Back-propagate from the values and seeds ``[(v, grad), ...]``: closed-over leaves' grads.

        Returns the inputs' gradients when asked (else None).
        """
        plan, env = self.plan, Env(self.env.data)  # this pass's gradients: two passes never share them
        variant = INPUTS if inputs else PARAMS
        env.grad = {s: np.zeros(d.shape) for s, d in env.data.items()}
        for v, grad in seeds:
            space, row = int(plan.space_of[v]), int(plan.row_of[v])
            seed = check_seed(env.data[space][row] if space else float(env.data[0][row]), grad)
            env.grad[space][row] += seed
        for kernel, wanted in zip(reversed(plan.kernels), reversed(plan.wanted)):
            if wanted[variant]:
                kernel.backward(env, variant)
        if plan.closed_float:
            first = plan.closed_float_first
            self.closed.add_grads(env.grad[0][first:first + len(plan.closed_float)])
        with _GRAD_LOCK:
            for s, r, value in plan.closed_lanes:
                if value.grad is not None:
                    value.grad = value.grad + env.grad[s][r]
        input_grads = None
        if inputs:
            input_grads = [self._input_grad(env, spec, shape) for spec, shape in zip(plan.input_rows, self.shapes)]
        return input_grads

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
    seeds = [(o._value, g) for o, g in zip(outputs, grads) if g is not None]
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

    __slots__ = ("_call", "_value", "_input_grads", "data")

    def __init__(self, call: Call, value: int) -> None:
        self._call, self._value = call, value
        self._input_grads: Optional[list] = None
        self.data = call.value(value)

    def backward(self, grad: Any = None, inputs: bool = False) -> None:
        """Back-propagate from this output (see the class docstring)."""
        input_grads = self._call.backward([(self._value, grad)], inputs)
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
