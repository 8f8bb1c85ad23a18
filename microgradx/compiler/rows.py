"""Rows of a replay's arrays: how kernels read values and add gradients, and how a batching rule sees its nodes.

A replay keeps every value of the program in a few arrays, one per *space*: space 0 is
a 1-D array of all the floats, space n a 2-D array whose rows are the lane values of n
lanes (`Env`). A batch of k nodes writes its k outputs to k consecutive rows of its space;
its inputs are read with a `Gather` per input position, or a `Block` for many positions at
once, and its gradients go back through the same object, added where they came from.
Both read a view of the space when the rows form a regular pattern (consecutive rows, one
row for every node, or a grid such as a layer's weights laid out neuron by neuron), and
index arrays otherwise.

A kernel may offer ``bind(env) -> Bound``: its forward and backward as callables with every
view of ``env``'s arrays made once, for a call's arrays that later calls reuse
(`microgradx.compiler.workspace`); its backward puts gradients through `Target` s, which
write instead of add where nothing reached those rows before in the pass. `bind` gives a
kernel that has no ``bind`` its two methods with ``env`` filled in.

`Batch` is what an op's batching rule (`microgradx.compiler.batching`) gets: k nodes of one
op and the means to read their inputs as a `Gather` or a `Block`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import repeat
from typing import Any, Optional

import attrs
import numpy as np


class Env:
    """One replay's arrays: ``data[space]`` (every value) and, in backward, ``grad[space]`` (each space, from zeros).

    A space is named by the lanes its values had when recorded; a call may have another number
    of rows (`lanes` says how many this call has).
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: dict) -> None:
        self.data = data
        self.grad: dict = {}

    def lanes(self, space: int) -> int:
        """The number of lanes of the values of ``space`` in this call (0 for floats)."""
        return self.data[space].shape[1] if space else 0


def _grid(rows: np.ndarray) -> Optional[tuple]:
    """``(first, steps)`` when ``rows[i, j, ...] == first + i*steps[0] + j*steps[1] + ...``, else None."""
    first = int(rows.flat[0])
    steps = []
    for axis in range(rows.ndim):
        n = rows.shape[axis]
        step = int(np.take(rows, 1, axis=axis).flat[0]) - first if n > 1 else 0
        steps.append(step)
    expected = first + sum(np.arange(n).reshape([-1 if a == i else 1 for a in range(rows.ndim)]) * s
                           for i, (n, s) in enumerate(zip(rows.shape, steps)))
    if not np.array_equal(expected, rows) or min(steps) < 0:
        return None
    return first, tuple(steps)


class _Rows:
    """Some rows of one space, shaped ``rows.shape`` (plus the call's lanes): a strided view where possible."""

    __slots__ = ("space", "rows", "grid", "unique", "lead", "index", "flat")

    def __init__(self, space: int, rows: Any) -> None:
        self.space, self.rows = space, np.asarray(rows, dtype=np.intp)
        self.grid = _grid(self.rows)
        distinct = len(np.unique(self.rows))
        self.unique = distinct == self.rows.size
        if self.grid is not None and not self.unique and distinct != 1:
            self.grid = None  # a grid that reads a row twice (a zero step) is only a view for one row
        self.lead = self.rows.shape
        self.index, self.flat = self.rows, 0  # how `view` indexes: rows (0), a slice (1), a slice reshaped (2)
        if self.grid is not None:
            first, steps = self.grid
            size = self.rows.size
            if self.rows.ndim == 1 and (steps[0] or size == 1):
                self.index, self.flat = slice(first, first + size * (steps[0] or 1), steps[0] or 1), 1
            elif self.rows.ndim == 2 and steps[1] == 1 and (steps[0] == self.rows.shape[1] or self.rows.shape[0] == 1):
                self.index, self.flat = slice(first, first + size), 2  # row-major and consecutive

    def shape(self, array: np.ndarray) -> tuple:
        """The shape of these rows of ``array``: ``rows.shape``, then the lanes of this call."""
        return (*self.lead, *array.shape[1:])

    def view(self, array: np.ndarray) -> np.ndarray:
        """The rows of ``array`` (one space's data or grads, C-contiguous), as a view when they form a grid."""
        if self.flat == 1 or self.grid is None:
            return array[self.index]
        if self.flat == 2:
            return array[self.index].reshape(self.shape(array))
        first, steps = self.grid
        unit = array.strides[0]
        return np.ndarray(self.shape(array), np.float64, array, first * unit,
                          (*[s * unit for s in steps], *array.strides[1:]))

    def add(self, grad: np.ndarray, g: np.ndarray) -> None:
        """``grad[rows] += g``, summing where a row appears more than once."""
        if self.grid is not None and self.unique:
            self.view(grad)[...] += g
        elif self.unique:
            grad[self.rows] += g
        else:
            np.add.at(grad, self.rows, g)

    def is_view(self) -> bool:
        """True when these rows of an array are a view of it (a grid), not a copy made by indexing."""
        return self.flat == 1 or self.grid is not None

    def target(self, grad: np.ndarray) -> Target:
        """These rows of the gradient array ``grad``, as a bound backward adds to them (see `Target`)."""
        return Target(self, grad)


class Target:
    """Rows of one space's gradient array that a bound backward adds a gradient to (see `Bound`).

    ``put(g)`` adds ``g`` (shaped as the rows, or broadcasting to that) to the rows. In a backward
    pass where nothing added to any of those rows before (`microgradx.compiler.workspace` works
    that out once per pass), ``put`` writes ``g`` there instead (`assign`): the rows need no zeroing
    first and are not read. Rows that appear twice (summed with ``np.add.at``) are always added to.
    """

    __slots__ = ("space", "rows", "shape", "view", "put", "assigning", "_add", "_assign")

    def __init__(self, rows: _Rows, grad: np.ndarray) -> None:
        self.space, self.rows, self.view, self.assigning = rows.space, rows.rows, None, False
        self.shape = rows.shape(grad)  # what put takes: the rows' shape (with this call's lanes)
        if rows.grid is not None and rows.unique:
            self.view = view = rows.view(grad)
            self._add, self._assign = view.__iadd__, partial(np.copyto, view)  # (the view's own: write into grad)
        elif rows.unique:
            index = rows.rows

            def add(g: Any) -> None:
                grad[index] += g

            def assign(g: Any) -> None:
                grad[index] = g

            self._add, self._assign = add, assign
        else:
            self._add, self._assign = partial(np.add.at, grad, rows.rows), None
        self.put = self._add

    @property
    def assignable(self) -> bool:
        """True when ``put`` can write instead of add (every row appears once)."""
        return self._assign is not None

    def assign(self, on: bool) -> None:
        """Make ``put`` write (``on``, when `assignable`) or add."""
        self.assigning = on and self._assign is not None
        self.put = self._assign if self.assigning else self._add


class Bound:
    """A kernel bound to one call's arrays (`bind`): the callables a replay runs, and what its backward touches.

    ``forward()`` and ``backward(variant)`` do what the kernel's ``forward(env)`` and
    ``backward(env, variant)`` do. ``reads`` lists the ``(space, rows)`` of the gradient arrays
    the backward reads (its outputs' rows); ``writes(variant)`` the `Target` s it puts
    gradients to in that variant, in the order it puts to them (a ``(space, rows)`` pair for
    rows it always adds to by other means). ``writes`` None: not known, so a pass that runs this
    backward zeroes every gradient array first and every target adds.
    """

    __slots__ = ("forward", "backward", "reads", "writes")

    def __init__(self, forward: Callable[[], None], backward: Callable[[int], None], reads: Optional[list] = None,
                 writes: Optional[Callable[[int], list]] = None) -> None:
        self.forward, self.backward, self.reads, self.writes = forward, backward, reads, writes


def bind(kernel: Any, env: Env) -> Bound:
    """``kernel`` bound to ``env``'s arrays and gradient arrays: its own ``bind``, or its methods given ``env``."""
    own = getattr(kernel, "bind", None)
    if own is not None:
        return own(env)
    return Bound(partial(kernel.forward, env), partial(kernel.backward, env))


def out_rows(space: int, rows: slice) -> list:
    """``reads`` of a kernel whose backward reads its outputs' gradients, ``rows`` of ``space``."""
    return [(space, np.arange(rows.start, rows.stop))]


class Gather(_Rows):
    """The inputs at one position of k nodes: shape (k,) for floats or (k, n) for lanes.

    With ``column`` a float gather is shaped (k, 1) so that it broadcasts against lanes. When
    every node reads the same value it is one row, (1,) or (1, n), broadcast too.
    """

    __slots__ = ("column",)

    def __init__(self, space: int, rows: Any, column: bool = False) -> None:
        rows = np.asarray(rows, dtype=np.intp)
        if len(rows) > 1 and (rows == rows[0]).all():
            rows = rows[:1]  # every node reads the same value: one row, broadcast
        super().__init__(space, rows)
        self.column = column  # (only for floats: a column of floats is (k, 1))

    def take(self, env: Env) -> np.ndarray:
        """The gathered values (a view where possible)."""
        x = self.view(env.data[self.space])
        return x.reshape((len(self.rows), 1)) if self.column else x

    def add(self, env: Env, g: Any) -> None:  # type: ignore[override]
        """Add the gradient ``g`` (any shape that broadcasts to, or reduces to, what `take` gave)."""
        grad = env.grad[self.space]
        if self.column:
            if g.__class__ is np.ndarray and g.ndim == 2 and g.shape[0] == self.lead[0]:
                g = g.sum(axis=1)  # a float input of lane nodes: its gradient is the lanes' total
            else:
                g = reduce_to(g, (len(self.rows), 1)).reshape(self.lead)
        else:
            g = reduce_to(g, self.shape(grad))
        super().add(grad, g)

    def taker(self, env: Env) -> Callable[[], np.ndarray]:
        """`take` bound to ``env``: the same view at every call where the rows form a grid, else a fresh gather."""
        if self.is_view():
            return repeat(self.take(env)).__next__
        index = self.rows.reshape(len(self.rows), 1) if self.column else self.rows
        return partial(env.data[self.space].take, index, 0)

    def adder(self, target: Target) -> Callable[[Any], None]:
        """`add` bound to ``target`` (these rows of a gradient array): ``add(g)``."""
        if self.column:
            k, lead, column = len(self.rows), self.lead, (len(self.rows), 1)

            def add(g: Any) -> None:
                if g.__class__ is np.ndarray and g.ndim == 2 and g.shape[0] == k:
                    target.put(g.sum(axis=1))  # a float input of lane nodes: its gradient is the lanes' total
                else:
                    target.put(reduce_to(g, column).reshape(lead))

            return add
        return _adder(target)


class Block(_Rows):
    """A (k, c) matrix of rows of one space (a row per node, a column per input position).

    ``take`` gives (k, c) for floats or (k, c, n) for lanes; ``add`` adds a gradient of that
    shape (or one that reduces to it) back.
    """

    __slots__ = ()

    def take(self, env: Env) -> np.ndarray:
        """The block's values, shaped (k, c) or (k, c, n)."""
        return self.view(env.data[self.space])

    def add(self, env: Env, g: Any) -> None:  # type: ignore[override]
        """Add the gradient ``g``."""
        grad = env.grad[self.space]
        super().add(grad, reduce_to(g, self.shape(grad)))

    def taker(self, env: Env) -> Callable[[], np.ndarray]:
        """`take` bound to ``env``: the same view at every call where the rows form a grid, else a fresh gather."""
        if self.is_view():
            return repeat(self.take(env)).__next__
        return partial(env.data[self.space].take, self.rows, 0)

    def adder(self, target: Target) -> Callable[[Any], None]:
        """`add` bound to ``target`` (these rows of a gradient array): ``add(g)``."""
        return _adder(target)


def _adder(target: Target) -> Callable[[Any], None]:
    """``add(g)``: ``g`` reduced to the target rows' shape, put to ``target``."""
    shape = target.shape

    def add(g: Any) -> None:
        target.put(g if g.__class__ is np.ndarray and g.shape == shape else reduce_to(g, shape))

    return add


def reduce_to(g: Any, shape: tuple) -> np.ndarray:
    """``g`` summed over the axes it was broadcast along, to ``shape`` (lane gradients of a float summed)."""
    if g.__class__ is np.ndarray and g.shape == shape:
        return g
    g = np.asarray(g, dtype=np.float64)
    if g.ndim < len(shape):
        g = np.broadcast_to(g, np.broadcast_shapes(g.shape, shape))
    while g.ndim > len(shape):
        g = g.sum(axis=-1)
    axes = tuple(i for i, (have, want) in enumerate(zip(g.shape, shape)) if want == 1 and have != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g if g.shape == shape else np.broadcast_to(g, shape)


@attrs.define(eq=False)
class Batch:
    """k nodes of one op with ``arity`` inputs each, as a batching rule sees them."""

    op: Any
    slots: np.ndarray  # (k, arity) value ids of each node's inputs
    spaces: list  # the space (lanes, 0 for floats) of each input position
    out_space: int  # the outputs' space
    rows: slice  # the outputs' rows in it
    row_of: np.ndarray  # value id -> row in its space
    needs: tuple  # per variant: a bool array, value id -> does it need a gradient
    ones: frozenset = frozenset()  # (space, row) of rows that hold 1.0 at every call (after blocks read whole)

    @property
    def k(self) -> int:
        """The number of nodes."""
        return self.slots.shape[0]

    def gather(self, position: int) -> Gather:
        """The inputs at ``position`` of every node (floats shaped to broadcast against lane outputs)."""
        return Gather(self.spaces[position], self.row_of[self.slots[:, position]],
                      column=self.out_space > 0 and self.spaces[position] == 0)

    def block(self, slots: np.ndarray, space: int) -> Block:
        """A block of value ids (all in ``space``) read as one array."""
        return Block(space, self.row_of[slots])

    def wants(self, slots: np.ndarray) -> tuple:
        """Per variant: does any of these values need a gradient."""
        return tuple(bool(need[slots].any()) for need in self.needs)

    def uniform(self, positions: range) -> Optional[int]:
        """The one space of the inputs at ``positions``, or None if they differ."""
        spaces = {self.spaces[p] for p in positions}
        return spaces.pop() if len(spaces) == 1 else None
