"""``check=True``: compare a recording with a fresh eager reading of ``fn`` and name the first difference.

The recording is stale when the graph ``fn`` builds now differs from the recorded one: another
op or other inputs at some node, a leaf that is now another Value holding another number (a
closed-over Value replaced: the recording keeps reading the one fn used), an input read at
another position, another constant (a number in fn that changed), or a node whose replayed
number differs from the eager one. The error names the node (its index in the recording's
topological order and its op). Python decisions on traced data never get this far: they are
refused while recording (`microgradx.compiler.trace`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microgradx.compiler.record import Program

HINT = ("; a recording replays the ops fn applied to the Values it used and the numbers it held when recorded "
        "(a setting read from a global, a name bound to another Value since): pass what changes as an argument, "
        "or use a new compile() for each case")


class StaleRecordingError(ValueError):
    """``check=True`` found that the recording no longer computes what the function computes eagerly."""


def compare(name: str, recorded: Program, eager: Any, replayed: Any) -> None:
    """Raise `StaleRecordingError` at the first difference between ``recorded`` and ``eager``.

    ``eager`` is the `Program` read from ``fn``'s fresh eager graph, or None when ``fn``
    returned no Value; ``replayed(v)`` is the replay's number for value ``v``.
    """
    def stale(what: str) -> StaleRecordingError:
        return StaleRecordingError(f"compiled {name}: the recording no longer matches the function: {what}{HINT}")

    if eager is None:
        raise stale("it returned no Value this time")
    n = recorded.n_leaves
    for i, (a, b) in enumerate(zip(recorded.ops, eager.ops)):
        if a is not b:
            raise stale(f"node {i} is op {a.name!r} in the recording and op {b.name!r} now")
    if len(recorded.ops) != len(eager.ops):
        raise stale(f"its graph has {len(eager.ops)} nodes now and {len(recorded.ops)} in the recording")
    if eager.n_leaves != n:
        raise stale(f"its graph has {eager.n_leaves} leaves now and {n} in the recording")
    for i, (op, ins_a, ins_b) in enumerate(zip(recorded.ops, recorded.inputs, eager.inputs)):
        if ins_a != ins_b:
            raise stale(f"node {i} (op {op.name!r}) reads values {_names(ins_a, n)} in the recording and "
                        f"{_names(ins_b, n)} now")
    if recorded.outputs != eager.outputs or recorded.single != eager.single:
        raise stale(f"it returns {_outputs(eager)} now and {_outputs(recorded)} in the recording")
    for i, (leaf, now) in enumerate(zip(recorded.leaves, eager.leaves)):
        user = _user(recorded, i)
        if leaf[0] != now[0] or (leaf[0] == "input" and leaf != now):
            raise stale(f"{user} reads {_leaf(now)} now and {_leaf(leaf)} in the recording")
        if leaf[0] == "closed" and leaf[1] is not now[1] and not np.array_equal(
                leaf[1].data, now[1].data, equal_nan=True):  # (a Value fn makes is another one at every run)
            raise stale(f"{user} reads another Value than the one the recording reads, holding another number "
                        f"(now {now[1]!r}, recorded {leaf[1]!r}): the recording keeps the Values fn used")
        if leaf[0] == "const" and not np.array_equal(leaf[1], now[1], equal_nan=True):
            raise stale(f"the constant {_brief(leaf[1])} that {user} reads when recorded is {_brief(now[1])} now")
    for i, (op, data) in enumerate(zip(recorded.ops, eager.data)):
        got = replayed(n + i)
        if not np.allclose(got, data, rtol=1e-9, atol=1e-12, equal_nan=True):
            raise stale(f"node {i} (op {op.name!r}) is {_brief(data)} eagerly and {_brief(got)} in the replay")


def _leaf(leaf: tuple) -> str:
    if leaf[0] == "input":
        return f"argument {leaf[1]} at position {leaf[2]}"
    return f"the constant {_brief(leaf[1])}" if leaf[0] == "const" else "a Value it closes over"


def _user(program: Program, leaf: int) -> str:
    """"node 3 (op 'mul')": the first node reading value ``leaf``, for messages."""
    for i, ins in enumerate(program.inputs):
        if leaf in ins:
            return f"node {i} (op {program.ops[i].name!r})"
    return f"output leaf {leaf}"


def _names(ids: tuple, n_leaves: int) -> str:
    return "(" + ", ".join(f"leaf {v}" if v < n_leaves else f"node {v - n_leaves}" for v in ids) + ")"


def _outputs(program: Any) -> str:
    count = len(program.outputs)
    return "one Value" if program.single else f"{count} Value{'s' if count != 1 else ''}"


def _brief(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return np.array2string(x, precision=6, threshold=6, edgeitems=2)
    return repr(x)
