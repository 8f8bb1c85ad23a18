"""Random expression graphs (hypothesis), compiled against eager: values, closed-over and input gradients.

A drawn program has leaves of three kinds, floats closed over (parameters), lane Values closed
over, and inputs (columns of the array argument), and steps applying a registered op (one test
per op: each graph contains it) or a ``chain`` ``[b +] w1*x1 + w2*x2 + ...`` made of ``+`` and
``*``, which the recorder fuses into ``dot`` (or ``sum``). With ``lanes=True`` the argument is an
(n, k) array whose columns are lane inputs; with ``lanes=False`` each of its rows is one example's
k float inputs and the function builds the program once per example, so the replay batches the
examples' nodes together. Steps are drawn as in ``test_properties.py``: evaluated while drawn, a
step whose op rejects its inputs or whose result is not finite or exceeds 1e3 is dropped.

Each graph is compiled, called and compared with the eager run (every output, every gradient),
then replayed on new inputs after the closed-over Values moved (an optimizer's step), and
compared again; where the eager function rejects the new inputs the replay must reject them too.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest
from helpers.compiled import assert_runs_match, run_compiled, run_eager
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

import microgradx
from microgradx import Value, get_registry
from microgradx.engine.value import apply

SETTINGS = settings(derandomize=True, deadline=None, database=None, print_blob=True, max_examples=25,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
ROWS = 3  # lanes (lanes=True) or examples (lanes=False)
LIMIT = 1e3
#: The replay adds in other orders than the eager graph (fused chains, per-kernel lane sums).
TOLERANCE = {"rtol": 1e-9, "atol": 1e-10}
ALL_OPS = sorted(get_registry().names("ops"))
FOCUS = [*ALL_OPS, "chain"]

magnitudes = st.floats(0.3, 2.0, allow_nan=False, allow_infinity=False)
numbers = st.tuples(magnitudes, st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1])


def _op(name: str):
    return get_registry().get("ops", name)


def _chain(nodes: list, idx: tuple):
    """``[nodes[idx[0]] +] sum of nodes[a] * nodes[b]`` for the pairs after it, with + and *."""
    bias, pairs = (nodes[idx[0]], idx[1:]) if len(idx) % 2 else (None, idx)
    terms = [nodes[a] * nodes[b] for a, b in zip(pairs[::2], pairs[1::2])]
    return functools.reduce(operator.add, terms if bias is None else [bias, *terms])


def step(name: str, nodes: list, idx: tuple) -> Value:
    return _chain(nodes, idx) if name == "chain" else apply(_op(name), *[nodes[i] for i in idx])


class Program:
    """Leaves: per leaf ("closed", float or lane array) or ("input", column); steps: (name, input indices)."""

    def __init__(self, leaves: list, inputs: np.ndarray, steps: list, outputs: int):
        self.leaves, self.inputs, self.steps, self.outputs = leaves, inputs, steps, outputs

    def __repr__(self) -> str:
        lines = [f"leaf v{i} = {kind} {x!r}" for i, (kind, x) in enumerate(self.leaves)]
        n = len(self.leaves)
        lines += [f"v{n + k} = {name}({', '.join(f'v{i}' for i in idx)})" for k, (name, idx) in enumerate(self.steps)]
        return f"Program ({self.outputs} outputs) on inputs\n{self.inputs!r}:\n  " + "\n  ".join(lines)

    def build(self, closed: list, columns: list) -> list:
        """Every node: the leaves (closed Values in order, input Values by column), then each step's output."""
        it = iter(closed)
        nodes = [next(it) if kind == "closed" else columns[x] for kind, x in self.leaves]
        for name, idx in self.steps:
            nodes.append(step(name, nodes, idx))
        return nodes

    def roots(self, closed: list, columns: list) -> list:
        """The outputs: the sum of every step's output (each op feeds it), and the last step's output."""
        outs = self.build(closed, columns)[len(self.leaves):]
        total = functools.reduce(operator.add, outs[1:], outs[0])
        return [total, outs[-1]][:self.outputs]

    def function(self, closed: list, lanes: bool):
        """The function to compile: lanes, the roots of the lane graph; else each root summed over the examples."""
        if lanes:
            return lambda X: tuple(self.roots(closed, X))

        def per_example(X):
            per_row = [self.roots(closed, row) for row in X]
            return tuple(functools.reduce(operator.add, [r[k] for r in per_row]) for k in range(self.outputs))

        return per_example


def _acceptable(outs: list) -> bool:
    data = np.array([np.asarray(o.data) for o in outs], dtype=np.float64)
    return bool(np.all(np.isfinite(data)) and np.all(np.abs(data) <= LIMIT))


@st.composite
def programs(draw, focus: str, lanes: bool) -> Program:
    """A valid program applying ``focus`` at least once, on 1-3 inputs and 0-3 closed-over leaves."""
    k = draw(st.integers(1, 3))
    inputs = np.array(draw(st.lists(st.lists(numbers, min_size=k, max_size=k), min_size=ROWS, max_size=ROWS)))
    kinds = ["float"] + (["lanes"] if lanes else [])
    leaves = [("input", j) for j in range(k)]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(kinds))
        leaves.append(("closed", draw(numbers) if kind == "float" else np.array(draw(
            st.lists(numbers, min_size=ROWS, max_size=ROWS)))))
    order = draw(st.permutations(range(len(leaves))))
    leaves = [leaves[i] for i in order]
    # the graph of each example (lanes: the one lane graph), evaluated while drawn
    closed = [Value(x) for kind, x in leaves if kind == "closed"]
    examples = [[Value(col) for col in inputs.T]] if lanes else [[Value(float(x)) for x in row] for row in inputs]
    program = Program(leaves, inputs, [], 1)
    nodes = [program.build(closed, cols) for cols in examples]
    have_focus = False
    for _ in range(draw(st.integers(1, 6)) + 2):
        if have_focus and len(program.steps) >= 6:
            break
        name = focus if not have_focus else draw(st.sampled_from(FOCUS))
        arity = draw(st.integers(2, 7)) if name == "chain" else _op(name).arity or draw(st.integers(1, 4))
        idx = tuple(draw(st.integers(0, len(nodes[0]) - 1)) for _ in range(arity))
        try:
            with np.errstate(all="ignore"):
                outs = [step(name, ns, idx) for ns in nodes]
        except (ValueError, ArithmeticError):
            continue
        if not _acceptable(outs):
            continue
        for ns, out in zip(nodes, outs):
            ns.append(out)
        program.steps.append((name, idx))
        have_focus = have_focus or name == focus
    assume(have_focus)
    program.outputs = draw(st.integers(1, 2))
    return program


def _moved(program: Program, closed: list, data) -> np.ndarray:
    """New inputs, and every closed-over Value moved a little (as an optimizer step would)."""
    for v in closed:
        v.data = v.data * data.draw(st.floats(0.8, 1.2))
    return program.inputs * np.array(data.draw(st.lists(st.floats(0.8, 1.2), min_size=program.inputs.shape[1],
                                                        max_size=program.inputs.shape[1])))


@pytest.mark.parametrize("lanes", [pytest.param(True, id="lanes"), pytest.param(False, id="scalar")])
@pytest.mark.parametrize("focus", FOCUS)
@SETTINGS
@given(data=st.data())
def test_random_graphs_compiled_equal_eager(focus, lanes, data):
    program = data.draw(programs(focus, lanes))
    note(repr(program))
    closed = [Value(x) for kind, x in program.leaves if kind == "closed"]
    fn = program.function(closed, lanes)
    compiled = microgradx.compile(fn, lanes=lanes)
    with np.errstate(all="ignore"):
        assert_runs_match(run_compiled(compiled, [program.inputs], closed),
                          run_eager(fn, [program.inputs], lanes, closed), what="recording", **TOLERANCE)
        X = _moved(program, closed, data)
        note(f"replayed on\n{X!r}\nwith closed-over values {[v.data for v in closed]!r}")
        try:
            eager = run_eager(fn, [X], lanes, closed)
        except (ValueError, ArithmeticError) as exc:  # the new point is outside an op's domain
            with pytest.raises(type(exc)):
                compiled(X)
            return
        assume(all(np.all(np.isfinite(d)) and np.all(np.abs(d) <= LIMIT) for d in eager["data"]))
        assume(all(np.all(np.isfinite(g)) for gs in eager["grads"] for g in gs))
        assert_runs_match(run_compiled(compiled, [X], closed), eager, what="replay", **TOLERANCE)
    assert compiled.recordings == 1


def test_every_registered_op_is_a_focus():
    assert set(ALL_OPS) <= set(FOCUS)
