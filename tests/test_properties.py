"""Property-based tests (hypothesis): random graphs over every registered op, and algebraic identities.

* Random expression graphs, one test per registered op (read from the registry, so a new op,
  a third-party one included, is covered without editing this file), each graph containing
  that op: gradients against central finite differences (`microgradx.testing.gradcheck`),
  against PyTorch for the ops PyTorch has, and scalar mode against lane mode.
* Identities such as ``x + x == 2 * x``, in value and gradient, in both modes.

Graphs are drawn op by op and evaluated as they are drawn: a step whose op rejects its
inputs (its domain check raises) or whose result is not finite or exceeds 1e3 is dropped,
so every graph is valid at its drawn point. Runs are derandomized (the same examples every
run) and bounded; a failure prints the graph and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
import pytest
from helpers.torch_ops import TORCH as TORCH_OPS_ALL
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from microgradx import Value, get_registry
from microgradx.engine.value import apply
from microgradx.testing import GradcheckError, gradcheck

settings.register_profile(
    "microgradx-properties", derandomize=True, deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no "explain": slow on a failure
)
SETTINGS = settings.get_profile("microgradx-properties")
LANES = 3
LIMIT = 1e3  # drop a step whose result exceeds this: finite differences stay accurate


def _registered() -> dict:
    return dict(get_registry().tables["ops"])


ALL_OPS = sorted(_registered())
MAPPED_OPS = sorted(n for n in ALL_OPS if not _registered()[n].obj.reduces_lanes)


def _op(name):
    return get_registry().get("ops", name)


# -- drawing graphs ------------------------------------------------------------------------------------

magnitudes = st.floats(0.3, 2.0, allow_nan=False, allow_infinity=False)
numbers = st.tuples(magnitudes, st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1])
lane_arrays = st.lists(numbers, min_size=LANES, max_size=LANES).map(np.array)


class Program:
    """Leaf data (floats or lane arrays) and steps ``(op name, input node indices)``; node i < len(leaves) is leaf i."""

    def __init__(self, leaves: list, steps: list):
        self.leaves, self.steps = leaves, steps

    def __repr__(self) -> str:
        lines = [f"leaf v{i} = {x!r}" for i, x in enumerate(self.leaves)]
        n = len(self.leaves)
        lines += [f"v{n + k} = {name}({', '.join(f'v{i}' for i in idx)})" for k, (name, idx) in enumerate(self.steps)]
        return "Program:\n  " + "\n  ".join(lines)

    def run(self, *leaves: Value) -> Value:
        """Build the graph on ``leaves``; the root is the sum of every op output (each op feeds it)."""
        nodes = list(leaves)
        for name, idx in self.steps:
            nodes.append(apply(_op(name), *[nodes[i] for i in idx]))
        outs = nodes[len(leaves):]
        return functools.reduce(operator.add, outs[1:], outs[0])


def _acceptable(out: Value) -> bool:
    data = np.asarray(out.data)
    return bool(np.all(np.isfinite(data)) and np.all(np.abs(data) <= LIMIT))


@st.composite
def programs(draw, focus: str, names: list, float_leaves: bool = True, lane_leaves: bool = True) -> Program:
    """A valid random program that applies ``focus`` at least once, to 1-3 leaves, in 1-6 steps."""
    kinds = [k for k, ok in (("float", float_leaves), ("lanes", lane_leaves)) if ok]
    leaves = [draw(numbers) if draw(st.sampled_from(kinds)) == "float" else draw(lane_arrays)
              for _ in range(draw(st.integers(1, 3)))]
    nodes = [Value(x) for x in leaves]
    steps: list = []
    have_focus = False
    for _ in range(draw(st.integers(1, 6)) + 2):  # a few extra tries for the focus op
        if have_focus and len(steps) >= 6:
            break
        name = focus if not have_focus else draw(st.sampled_from(names))
        op = _op(name)
        arity = op.arity if op.arity is not None else draw(st.integers(1, 4))
        idx = tuple(draw(st.integers(0, len(nodes) - 1)) for _ in range(arity))
        try:
            with np.errstate(all="ignore"):
                out = apply(op, *[nodes[i] for i in idx])
        except (ValueError, ArithmeticError):  # the op's domain check: not a valid step here
            continue
        if not _acceptable(out):
            continue
        nodes.append(out)
        steps.append((name, idx))
        have_focus = have_focus or name == focus
    assume(have_focus)
    return Program(leaves, steps)


def _numeric(program: Program, eps: float, side: str = "central") -> np.ndarray:
    """Differences of sum(root) for every input element (flattened), at step ``eps``: central, or one-sided
    ("forward", "backward")."""
    base = [np.array(x, dtype=np.float64) for x in program.leaves]
    grads = []
    for i, b in enumerate(base):
        for lane in range(b.size if b.ndim else 1):
            def f(delta, i=i, lane=lane):
                arrays = [a.copy() for a in base]
                if arrays[i].ndim:
                    arrays[i][lane] += delta
                else:
                    arrays[i] = arrays[i] + delta
                out = program.run(*[Value(a if a.ndim else float(a)) for a in arrays])
                return float(np.sum(out.data))

            low, high = {"central": (-eps, eps), "forward": (0.0, eps), "backward": (-eps, 0.0)}[side]
            grads.append((f(high) - f(low)) / (high - low))
    return np.array(grads)


def _smooth(program: Program) -> bool:
    """True when the program is differentiable around its point: two step sizes agree, and so do the slopes on
    either side (no kink, jump or pole at or near it: relu at exactly 0 has slopes 0 and 1, which average to 0.5)."""
    try:
        with np.errstate(all="ignore"):
            a, b = _numeric(program, 1e-6), _numeric(program, 1e-4)
            left, right = _numeric(program, 1e-6, "backward"), _numeric(program, 1e-6, "forward")
    except (ValueError, ArithmeticError):  # a domain boundary within a step of the point
        return False
    return bool(np.all(np.isfinite(a)) and np.allclose(a, b, rtol=1e-3, atol=1e-4)
                and np.allclose(left, right, rtol=1e-3, atol=1e-4))


# -- finite differences ---------------------------------------------------------------------------------


@pytest.mark.parametrize("focus", ALL_OPS)
@settings(SETTINGS, max_examples=12)
@given(data=st.data())
def test_random_graphs_match_finite_differences(focus, data):
    program = data.draw(programs(focus, ALL_OPS))
    note(repr(program))
    assume(_smooth(program))
    try:
        with np.errstate(all="ignore"):
            gradcheck(program.run, program.leaves)
    except GradcheckError as exc:
        raise AssertionError(f"{exc}\n{program!r}") from None


# -- PyTorch ----------------------------------------------------------------------------------------------


#: The bundled ops whose PyTorch version the random graphs use (used only while the registered op is the bundled one).
TORCH = {name: TORCH_OPS_ALL[name] for name in ("add", "sub", "neg", "mul", "div", "pow", "tanh", "relu", "exp", "log",
                                                "sigmoid", "lane_sum", "lane_mean", "sum", "dot", "logsumexp")}
TORCH_OPS = sorted(n for n in ALL_OPS if n in TORCH and _registered()[n].plugin.builtin)


@pytest.mark.parametrize("focus", TORCH_OPS)
@settings(SETTINGS, max_examples=10)
@given(data=st.data())
def test_random_graphs_match_pytorch(focus, data, torch):
    program = data.draw(programs(focus, TORCH_OPS))
    note(repr(program))
    leaves = [Value(x) for x in program.leaves]
    root = program.run(*leaves)
    with np.errstate(all="ignore"):  # 0 * inf inside a gradient PyTorch also makes NaN: rejected below
        root.backward(np.ones_like(root.data))
    tleaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in program.leaves]
    nodes = list(tleaves)
    for name, idx in program.steps:
        nodes.append(TORCH[name](torch, *[nodes[i] for i in idx]))
    troot = functools.reduce(operator.add, nodes[len(tleaves) + 1:], nodes[len(tleaves)])
    troot.sum().backward()
    # where PyTorch's gradient is undefined (NaN) microgradx follows its documented policy instead
    # (e.g. d/dy of x ** y is 0 for x <= 0): compare where PyTorch has a number
    tgrads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in tleaves]  # None: an unused leaf
    assume(all(bool(torch.isfinite(g).all()) for g in tgrads))
    np.testing.assert_allclose(np.asarray(root.data), troot.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg=repr(program))
    for i, (v, g) in enumerate(zip(leaves, tgrads)):
        np.testing.assert_allclose(np.asarray(v.grad), g.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=f"leaf v{i}\n{program!r}")


# -- scalar mode against lane mode -----------------------------------------------------------------------


@pytest.mark.parametrize("focus", MAPPED_OPS)
@settings(SETTINGS, max_examples=12)
@given(data=st.data())
def test_scalar_and_lane_mode_agree_on_random_graphs(focus, data):
    """One lane graph == one scalar graph per lane; a float leaf (a shared parameter) gets the lanes' total."""
    program = data.draw(programs(focus, MAPPED_OPS))
    note(repr(program))
    leaves = [Value(x) for x in program.leaves]
    root = program.run(*leaves)
    assume(isinstance(root.data, np.ndarray))  # the graph reads at least one lane leaf
    root.backward(np.ones_like(root.data))
    values = root.data
    per_lane: dict = {}  # float leaf index -> its gradient in each scalar graph
    for lane in range(LANES):
        scalar_leaves = [Value(float(x[lane]) if isinstance(x, np.ndarray) else x) for x in program.leaves]
        scalar_root = program.run(*scalar_leaves)
        scalar_root.backward()
        assert type(scalar_root.data) is float
        assert scalar_root.data == pytest.approx(values[lane], rel=1e-12, abs=1e-12), f"lane {lane}"
        for i, (v, s) in enumerate(zip(leaves, scalar_leaves)):
            if isinstance(v.data, np.ndarray):
                assert s.grad == pytest.approx(v.grad[lane], rel=1e-10, abs=1e-12, nan_ok=True), f"v{i} lane {lane}"
            else:
                per_lane.setdefault(i, []).append(s.grad)
    for i, grads in per_lane.items():
        assert type(leaves[i].grad) is float, f"leaf v{i}"
        assert leaves[i].grad == pytest.approx(math.fsum(grads), rel=1e-10, abs=1e-12, nan_ok=True), f"leaf v{i}"


# -- identities ----------------------------------------------------------------------------------------------


def _exact(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=1e-14)


#: name -> (number of inputs, lhs, rhs, comparison, domain of the inputs)
IDENTITIES = {
    "x + x == 2 * x": (1, lambda x: x + x, lambda x: 2 * x, _exact, None),
    "x * 1 == x": (1, lambda x: x * 1, lambda x: x + 0.0, _exact, None),
    "(x ** 2) ** 0.5 == |x|": (1, lambda x: (x ** 2) ** 0.5, lambda x: x * (2 * (x.data > 0) - 1.0), _close, None),
    "exp(log(x)) == x (x > 0)": (1, lambda x: x.log().exp(), lambda x: x * 1.0, _close, "positive"),
    "log(exp(x)) == x": (1, lambda x: x.exp().log(), lambda x: x * 1.0, _close, None),
    "a - b == a + (-b)": (2, lambda a, b: a - b, lambda a, b: a + (-b), _exact, None),
    "a + b == b + a": (2, lambda a, b: a + b, lambda a, b: b + a, _exact, None),
    "a * b == b * a": (2, lambda a, b: a * b, lambda a, b: b * a, _exact, None),
    "a / b == a * b ** -1": (2, lambda a, b: a / b, lambda a, b: a * b ** -1, _close, None),
    "a ** 2 == a * a": (1, lambda a: a ** 2, lambda a: a * a, _exact, None),
    "tanh(x) == 2 sigmoid(2x) - 1": (1, lambda x: x.tanh(), lambda x: 2 * (2 * x).sigmoid() - 1, _close, None),
    "relu(x) - relu(-x) == x": (1, lambda x: x.relu() - (-x).relu(), lambda x: x * 1.0, _exact, None),
    "logsumexp(x, x) == x + log 2": (1, lambda x: _op_call("logsumexp", x, x), lambda x: x + math.log(2), _close,
                                     None),
    "dot(b, w, x) == b + w * x": (3, lambda b, w, x: _op_call("dot", b, w, x), lambda b, w, x: b + w * x, _exact,
                                  None),
    "sum(a, b, c) == a + b + c": (3, lambda a, b, c: _op_call("sum", a, b, c), lambda a, b, c: a + b + c, _exact,
                                  None),
    "lane_mean(x) * n == lane_sum(x)": (1, lambda x: _op_call("lane_mean", x) * LANES,
                                        lambda x: _op_call("lane_sum", x), _close, "lanes"),
}


def _op_call(name, *xs):
    return apply(_op(name), *xs)


def _inputs(draw, n, domain, lanes):
    if domain == "lanes":
        lanes = True
    values = [draw(lane_arrays) if lanes else draw(numbers) for _ in range(n)]
    if domain == "positive":
        values = [np.abs(v) if lanes else abs(v) for v in values]
    return values


@pytest.mark.parametrize("name, lanes", [
    pytest.param(name, lanes, id=f"{name} [{'lanes' if lanes else 'scalar'}]")
    for name in IDENTITIES for lanes in (False, True) if lanes or IDENTITIES[name][4] != "lanes"
])
@settings(SETTINGS, max_examples=25)
@given(data=st.data())
def test_identities_in_value_and_gradient(name, lanes, data):
    n, lhs, rhs, same, domain = IDENTITIES[name]
    xs = _inputs(data.draw, n, domain, lanes)
    note(f"{name} at {xs!r}")
    results = []
    for side in (lhs, rhs):
        leaves = [Value(x) for x in xs]
        out = side(*leaves)
        out.backward(np.ones_like(out.data))
        results.append((out.data, [v.grad for v in leaves]))
    same(results[0][0], results[1][0])
    for g1, g2 in zip(results[0][1], results[1][1]):
        same(g1, g2)


def test_every_registered_op_has_a_random_graph_test():
    """The parametrizations come from the registry: each op, bundled or not, is in them."""
    assert set(ALL_OPS) == set(get_registry().names("ops"))
    assert {"add", "pow", "dot", "logsumexp", "lane_mean"} <= set(TORCH_OPS)
