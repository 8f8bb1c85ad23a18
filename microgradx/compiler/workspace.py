"""The arrays of a compiled call, reused by later calls: a training loop's replays allocate nothing.

`Workspace`: one call's arrays, and the plan's kernels bound to them once a later call
reuses them (`microgradx.compiler.rows.bind`); `Workspaces`: a recording's spare ones;
`_Pass`: what one backward pass on a workspace's gradient arrays writes, adds and zeroes.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

import numpy as np

from microgradx.compiler.plan import INPUTS, Plan
from microgradx.compiler.rows import Bound, Env, Target, bind

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
            found = bind(kernel, self.env)
            if len(self.bound) < len(self.plan.kernels) + 64:  # (the partial passes' kernels: a few are kept)
                self.bound[kernel] = found
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
