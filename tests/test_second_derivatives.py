"""Second derivatives of every bundled op and loss (issue 23, point 2), by ``backward(create_graph=True)``.

Each op's derivative is differentiated again: the second derivatives d/dx_j (d out/dx_i), mixed
partials included, are checked against central finite differences of the first derivative
(itself from a plain ``backward()``, so the check does not lean on the path it checks) and
against PyTorch's double backward where PyTorch is installed: on floats, on lanes (one example
per lane) and on a float input shared by lanes (a parameter), at ordinary points and at the
points where the derivative is not defined (relu, abs, step and sign at 0, powers at 0).

The ops come from the registry: a new bundled op is checked here without a line added, and the
PyTorch comparison fails until it has a PyTorch counterpart in `TORCH`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.torch_ops import TORCH

import microgradx
from microgradx import Value, gradients
from microgradx.engine.lanes import lanewise
from microgradx.engine.value import apply

REGISTRY = microgradx.get_registry()
BUNDLED_OPS = sorted(name for name in REGISTRY.names("ops") if REGISTRY.component("ops", name).plugin.builtin)
BUNDLED_LOSSES = sorted(name for name in REGISTRY.names("losses")
                        if REGISTRY.component("losses", name).plugin.builtin)
LANES = 4


def _arities(op):
    """The input counts to try: the op's own, or 1, 2, 3 and 5 for a variadic op (dot: a bias and two pairs)."""
    return [op.arity] if op.arity is not None else [1, 2, 3, 5]


def _points(op, arity, seed, count=2):
    """``count`` points of ``arity`` inputs, each input ``LANES`` numbers in +-[0.3, 2] that ``op`` accepts."""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(500):
        xs = [rng.uniform(0.3, 2.0, LANES) * rng.choice([-1.0, 1.0], LANES) for _ in range(arity)]
        try:
            if op.check is not None:
                op.check(*xs)
            y = op.forward(*xs)
        except (ValueError, ArithmeticError):
            continue
        if np.all(np.isfinite(y)):
            points.append(xs)
            if len(points) == count:
                return points
    raise AssertionError(f"no points found for op {op.name!r}")


def _modes(xs):
    """The same point as floats (lane 0), as lanes, and with a float first input shared by the lanes."""
    yield "floats", [float(x[0]) for x in xs]
    yield "lanes", xs
    if len(xs) > 1:
        yield "shared float", [float(xs[0][0]), *xs[1:]]


def _total(out):
    """One number to differentiate: a lane output's lanes added up (they are independent examples)."""
    return out.lane_sum() if out.is_lanes else out


def _entries(x):
    return [None] if np.ndim(x) == 0 else list(range(np.size(x)))


def _as_array(g, x):
    """A gradient (a float, lanes, or a Value of either) as an array shaped like the input ``x``."""
    g = g.data if isinstance(g, Value) else g
    return np.array(np.broadcast_to(np.asarray(g, dtype=np.float64), np.shape(x)))


def first_derivatives(fn, xs):
    """d total/dx_i for every input, by a plain ``backward()`` (no graph of the gradient)."""
    vs = [Value(x) for x in xs]
    _total(fn(*vs)).backward()
    return [_as_array(v.grad, x) for v, x in zip(vs, xs)]


def by_graph(fn, xs):
    """(first derivatives, H) by ``create_graph=True``: H[i][j] = d/dx_j of (d total/dx_i, its lanes added up)."""
    vs = [Value(x) for x in xs]
    firsts = gradients(_total(fn(*vs)), vs, create_graph=True)
    rows = []
    for g in firsts:
        if isinstance(g, Value):
            rows.append([_as_array(h, x) for h, x in zip(gradients(_total(g), vs), xs)])
        else:  # no gradient reached the input: d total/dx_i is the constant 0
            rows.append([np.zeros(np.shape(x)) for x in xs])
    return [_as_array(g, x) for g, x in zip(firsts, xs)], rows


def by_differences(fn, xs, h=1e-6):
    """H as `by_graph` defines it, by central differences of the plain first derivatives."""
    rows = [[np.zeros(np.shape(x)) for x in xs] for _ in xs]
    for j, x in enumerate(xs):
        for k in _entries(x):
            shifted = []
            for delta in (h, -h):
                moved = [v if np.ndim(v) == 0 else np.array(v, dtype=np.float64) for v in xs]
                if k is None:
                    moved[j] = moved[j] + delta
                else:
                    moved[j][k] += delta
                shifted.append(first_derivatives(fn, moved))
            for i in range(len(xs)):
                column = (shifted[0][i].sum() - shifted[1][i].sum()) / (2 * h)
                if k is None:
                    rows[i][j] = np.asarray(column)
                else:
                    rows[i][j][k] = column
    return rows


def assert_same(ours, want, what, rtol=1e-5, atol=1e-6):
    for i, (row, want_row) in enumerate(zip(ours, want)):
        for j, (h, w) in enumerate(zip(row, want_row)):
            np.testing.assert_allclose(h, w, rtol=rtol, atol=atol, err_msg=f"{what}: d2/dx{i}dx{j}")


def op_function(op):
    return lambda *vs: apply(op, *vs)


# -- every bundled op against finite differences of its first derivative --------------------------


@pytest.mark.parametrize("name", BUNDLED_OPS)
def test_second_derivatives_match_finite_differences(name):
    op = REGISTRY.get("ops", name)
    fn = op_function(op)
    for arity in _arities(op):
        for seed, xs in enumerate(_points(op, arity, seed=arity)):
            for mode, point in _modes(xs):
                where = f"op {name!r}, {arity} input(s), {mode}, point {seed}"
                firsts, rows = by_graph(fn, point)
                for got, want in zip(firsts, first_derivatives(fn, point)):  # the graph's numbers: the same
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=where)
                assert_same(rows, by_differences(fn, point), where)


@pytest.mark.parametrize("name", BUNDLED_OPS)
def test_mixed_partials_are_symmetric(name):
    """d2/dadb == d2/dbda: each lane of a lane op is a function of that lane's inputs only."""
    op = REGISTRY.get("ops", name)
    for arity in [a for a in _arities(op) if a > 1]:
        xs = _points(op, arity, seed=7, count=1)[0]
        for mode, point in _modes(xs):
            if mode == "shared float":  # (the shared input's entry adds up the lanes: not one lane's partial)
                continue
            _, rows = by_graph(op_function(op), point)
            for i in range(arity):
                for j in range(i):
                    np.testing.assert_allclose(rows[i][j], rows[j][i], rtol=1e-12, atol=1e-14,
                                               err_msg=f"op {name!r}, {mode}: d2/dx{i}dx{j}")


# -- powers (pow with a constant exponent is not a registered op of its own) -----------------------

POWERS = [2, 3, 1, 0, -1, -2, 0.5, 1.7, -0.5]


def _power_base(c):
    """Lanes of x for x ** c: of both signs for an integer power, positive for a fractional one."""
    return np.array([-1.7, -0.4, 0.9, 2.0]) if isinstance(c, int) else np.array([0.4, 0.9, 1.3, 2.0])


@pytest.mark.parametrize("c", POWERS)
def test_constant_powers_match_finite_differences(c):
    fn = lambda x: x ** c
    for _, point in _modes([_power_base(c)]):
        firsts, rows = by_graph(fn, point)
        for got, want in zip(firsts, first_derivatives(fn, point)):
            np.testing.assert_allclose(got, want, rtol=1e-12)
        assert_same(rows, by_differences(fn, point), f"x ** {c}")


def test_third_derivative_of_a_power():
    """A derivative of a derivative is a graph too: x**4 three times, 24x."""
    x = Value(np.array([-1.5, 0.5, 2.0]))
    (g,) = gradients((x ** 4).lane_sum(), [x], create_graph=True)
    (h,) = gradients(g.lane_sum(), [x], create_graph=True)
    (k,) = gradients(h.lane_sum(), [x])
    np.testing.assert_allclose(g.data, 4 * x.data ** 3)
    np.testing.assert_allclose(h.data, 12 * x.data ** 2)
    np.testing.assert_allclose(k, 24 * x.data)


# -- where the derivative is not defined: PyTorch's convention ---------------------------------------
#
# relu, abs, step and sign at 0 take the derivative 0 there, and their derivatives' derivatives are
# 0 (the derivatives are piecewise constant); the powers at 0 are what the formula gives (IEEE inf).

AT_ZERO = np.array([0.0, -1.5, 0.0, 2.0])  # two lanes at the kink, one either side

KINKS = {
    "relu": (lambda x: x.relu(), [0.0, 0.0, 0.0, 1.0]),
    "abs": (lambda x: abs(x), [0.0, -1.0, 0.0, 1.0]),
    "step": (lambda x: x.step(), [0.0, 0.0, 0.0, 0.0]),
    "sign": (lambda x: x.sign(), [0.0, 0.0, 0.0, 0.0]),
    "hinge at the margin": (lambda x: (1.0 - x).relu(), [0.0, -1.0, 0.0, 0.0]),
}


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kinks_take_the_derivative_0_and_the_second_derivative_0(name):
    fn, slopes = KINKS[name]
    x = AT_ZERO + (1.0 if name.startswith("hinge") else 0.0)  # the hinge's kink is at 1
    for mode, point in (("lanes", [x]), *[(f"float {v}", [float(v)]) for v in x]):
        firsts, rows = by_graph(fn, point)
        want = slopes if mode == "lanes" else slopes[list(x).index(point[0])]
        np.testing.assert_array_equal(firsts[0], want, err_msg=f"{name}, {mode}")
        np.testing.assert_array_equal(rows[0][0], np.zeros(np.shape(point[0])), err_msg=f"{name}, {mode}")


POWERS_AT_ZERO = {  # c: (d/dx x**c, d2/dx2 x**c) at x = 0
    3: (0.0, 0.0), 2: (0.0, 2.0), 1: (1.0, 0.0), 0: (0.0, 0.0), 1.5: (0.0, math.inf), 0.5: (math.inf, -math.inf),
}


@pytest.mark.parametrize("c", sorted(POWERS_AT_ZERO))
def test_constant_powers_at_zero(c):
    """The formula's numbers, IEEE's inf included (sqrt's slope at 0), with or without create_graph."""
    first, second = POWERS_AT_ZERO[c]
    firsts, rows = by_graph(lambda x: x ** c, [0.0])
    assert firsts[0] == first and first_derivatives(lambda x: x ** c, [0.0])[0] == first
    assert rows[0][0] == second


@pytest.mark.xfail(strict=True, reason="the plain backward driver runs the backward of every node below the root, "
                   "with the gradient 0.0 where none reached it: below a lane reduction's derivative lane_fill(g, x) "
                   "(x gives only the lanes) that is x's own graph, and sqrt's 0 * inf there is nan")
def test_constant_powers_at_zero_on_lanes():
    firsts, rows = by_graph(lambda x: x ** 0.5, [np.array([0.0, 1.0])])
    np.testing.assert_array_equal(firsts[0], [math.inf, 0.5])
    np.testing.assert_array_equal(rows[0][0], [-math.inf, -0.25])


def test_a_value_exponent_at_a_zero_or_negative_base():
    """x ** y with y a Value: d/dy = x**y log(x) is taken as 0 where x <= 0 (its limit at x -> 0+ for y > 0),
    d/dx as 0 where y == 0; the create_graph path gives the same first derivatives and no error, and its
    second derivatives are those limits: symmetric, and finite differences agree where pow is smooth."""
    x = np.array([0.0, 0.0, -2.0, 2.0, 0.0])
    y = np.array([2.0, 0.0, 3.0, 0.0, 1.0])
    fn = lambda a, b: a ** b
    firsts, rows = by_graph(fn, [x, y])
    for got, want in zip(firsts, first_derivatives(fn, [x, y])):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(firsts[0], [0.0, 0.0, 12.0, 0.0, 1.0])
    np.testing.assert_array_equal(firsts[1], [0.0, 0.0, 0.0, math.log(2.0), 0.0])
    # d2/dx2 = y(y-1)x**(y-2); d2/dxdy = x**(y-1) (1 + y log x); d2/dy2 = x**y log(x)**2, log taken as 0 at x <= 0
    np.testing.assert_allclose(rows[0][0], [2.0, 0.0, -12.0, 0.0, 0.0])
    np.testing.assert_allclose(rows[1][1], [0.0, 0.0, 0.0, math.log(2.0) ** 2, 0.0])
    np.testing.assert_allclose(rows[0][1], [0.0, 1.0, 4.0, 0.5, 1.0])
    np.testing.assert_allclose(rows[0][1][3:4], rows[1][0][3:4])  # the smooth lane is symmetric
    smooth = [np.array([2.0]), np.array([0.0])]  # x > 0: pow is smooth even at y == 0
    assert_same(by_graph(fn, smooth)[1], by_differences(fn, smooth), "x ** y at x = 2, y = 0")


# -- PyTorch's double backward ----------------------------------------------------------------------


def by_torch(torch, tfn, xs):
    """(first derivatives, H) as `by_graph` defines them, by PyTorch's double backward."""
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = tfn(torch, *ts).sum()
    if not out.requires_grad:  # PyTorch's function is a constant of its inputs (step)
        return [np.zeros(np.shape(x)) for x in xs], [[np.zeros(np.shape(x)) for x in xs] for _ in xs]
    firsts = torch.autograd.grad(out, ts, create_graph=True, allow_unused=True, materialize_grads=True)
    rows = []
    for g in firsts:
        if g.requires_grad:
            second = torch.autograd.grad(g.sum(), ts, retain_graph=True, allow_unused=True, materialize_grads=True)
            rows.append([h.numpy(force=True) for h in second])  # (force: PyTorch's ZeroTensor of no gradient)
        else:  # PyTorch's first derivative is a constant (sign, step)
            rows.append([np.zeros(np.shape(x)) for x in xs])
    return [g.numpy(force=True) for g in firsts], rows


def test_every_bundled_op_has_a_pytorch_counterpart():
    """(Checked without PyTorch too, so a new bundled op cannot slip past the comparison.)"""
    missing = sorted(set(BUNDLED_OPS) - set(TORCH))
    assert not missing, f"bundled op(s) {missing} have no PyTorch counterpart in TORCH: add one"
    assert {"dot", "sum", "logsumexp", "bce_logit", "pow", "relu", "lane_mean"} <= set(BUNDLED_OPS)


@pytest.mark.parametrize("name", BUNDLED_OPS)
def test_second_derivatives_match_pytorch(torch, name):
    op = REGISTRY.get("ops", name)
    for arity in _arities(op):
        for seed, xs in enumerate(_points(op, arity, seed=arity + 10)):
            for mode, point in _modes(xs):
                where = f"op {name!r}, {arity} input(s), {mode}, point {seed}"
                firsts, rows = by_graph(op_function(op), point)
                want_firsts, want_rows = by_torch(torch, TORCH[name], point)
                for got, want in zip(firsts, want_firsts):
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=where)
                assert_same(rows, want_rows, where, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kinks_match_pytorch(torch, name):
    fn, _ = KINKS[name]
    tfn = {"relu": TORCH["relu"], "abs": TORCH["abs"], "step": TORCH["step"], "sign": TORCH["sign"],
           "hinge at the margin": lambda t, x: t.relu(1.0 - x)}[name]
    x = AT_ZERO + (1.0 if name.startswith("hinge") else 0.0)
    for point in ([x], [0.0 if not name.startswith("hinge") else 1.0]):
        firsts, rows = by_graph(fn, point)
        want_firsts, want_rows = by_torch(torch, tfn, point)
        np.testing.assert_array_equal(firsts[0], want_firsts[0], err_msg=name)
        np.testing.assert_array_equal(rows[0][0], want_rows[0][0], err_msg=name)


@pytest.mark.parametrize("c", sorted(POWERS_AT_ZERO))
def test_constant_powers_at_zero_match_pytorch(torch, c):
    firsts, rows = by_graph(lambda x: x ** c, [0.0])
    want_firsts, want_rows = by_torch(torch, lambda t, x: x ** c, [0.0])
    assert firsts[0] == want_firsts[0] and rows[0][0] == want_rows[0][0]


@pytest.mark.parametrize("c", POWERS)
def test_constant_powers_match_pytorch(torch, c):
    for _, point in _modes([_power_base(c)]):
        firsts, rows = by_graph(lambda v: v ** c, point)
        want_firsts, want_rows = by_torch(torch, lambda t, v: v ** c, point)
        np.testing.assert_allclose(firsts[0], want_firsts[0], rtol=1e-12)
        np.testing.assert_allclose(rows[0][0], want_rows[0][0], rtol=1e-12)


# -- the losses -------------------------------------------------------------------------------------

N = 5


def _loss_case(name, rng, l2=0.0):
    """(loss, outputs as lane arrays, targets) for a registered loss, by its task."""
    loss = REGISTRY.get("losses", name)(l2=l2)
    if loss.task == "binary":
        return loss, [rng.normal(size=N) * 2], (rng.random(N) > 0.5).astype(float)
    if loss.task == "multiclass":
        return loss, [rng.normal(size=N) * 2 for _ in range(3)], rng.integers(0, 3, N).astype(float)
    return loss, [rng.normal(size=N), rng.normal(size=N)], rng.normal(size=(N, 2))


#: loss name -> its PyTorch counterpart, given torch, the outputs as an (n, k) tensor and the targets as a tensor
TORCH_LOSSES = {
    "mse": lambda t, z, tt: t.nn.functional.mse_loss(z, tt),
    "squared_error": lambda t, z, tt: 0.5 * t.nn.functional.mse_loss(z, tt),
    "hinge": lambda t, z, tt: t.relu(1 - (2 * tt - 1) * z[:, 0]).mean(),
    "bce": lambda t, z, tt: t.nn.functional.binary_cross_entropy_with_logits(z[:, 0], tt),
    "softmax_ce": lambda t, z, tt: t.nn.functional.cross_entropy(z, tt.long()),
}


def test_every_bundled_loss_has_a_pytorch_counterpart():
    missing = sorted(set(BUNDLED_LOSSES) - set(TORCH_LOSSES))
    assert not missing, f"bundled loss(es) {missing} have no PyTorch counterpart in TORCH_LOSSES: add one"


@pytest.mark.parametrize("name", BUNDLED_LOSSES)
def test_loss_second_derivatives_match_finite_differences(name, rng):
    """On lanes (a batch: the mean over examples) and on floats (one example), with an L2 penalty on parameters."""
    loss, outs, targets = _loss_case(name, rng, l2=0.3)
    params = [rng.normal(), rng.normal()]
    k = len(outs)
    for t, point in ((targets, [*outs, *params]), (targets[:1], [*[float(o[0]) for o in outs], *params])):
        def fn(*vs, t=t):
            return loss(list(vs[:k]), t, params=list(vs[k:]))

        firsts, rows = by_graph(fn, point)
        for got, want in zip(firsts, first_derivatives(fn, point)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        assert_same(rows, by_differences(fn, point), f"loss {name!r}")
        assert rows[k][k] == pytest.approx(2 * 0.3) and rows[k][k + 1] == 0.0  # the penalty's: 2 * l2 * I


@pytest.mark.parametrize("name", BUNDLED_LOSSES)
def test_loss_second_derivatives_match_pytorch(torch, name, rng):
    loss, outs, targets = _loss_case(name, rng)
    firsts, rows = by_graph(lambda *vs: loss(list(vs), targets), outs)

    def tfn(t, *zs):
        return TORCH_LOSSES[name](t, t.stack(zs, dim=1), t.tensor(targets, dtype=t.float64))

    want_firsts, want_rows = by_torch(torch, tfn, outs)
    for got, want in zip(firsts, want_firsts):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert_same(rows, want_rows, f"loss {name!r}", rtol=1e-10, atol=1e-14)


def test_weighted_loss_second_derivatives(rng):
    loss, outs, targets = _loss_case("softmax_ce", rng)
    weights = rng.uniform(0.0, 2.0, N)
    fn = lambda *vs: loss(list(vs), targets, weights=weights)
    assert_same(by_graph(fn, outs)[1], by_differences(fn, outs), "weighted softmax_ce")


# -- a derivative that cannot be differentiated: a plugin's backward for numbers only ----------------


def _numbers_only_ops():
    """Ops whose backward is written for numbers only, each a different way."""
    return [
        microgradx.Op(name="np_cube", forward=lambda x: x * x * x,
                      backward=lambda g, out, x: (g * 3.0 * np.square(x),)),  # numpy on a Value
        microgradx.Op(name="math_sin", forward=lanewise(math.sin, np.sin),  # a lanewise helper without an op:
                      backward=lambda g, out, x: (g * lanewise(math.cos, np.cos)(x),)),  # math.cos(a Value)
        microgradx.Op(name="where_relu", forward=lambda x: np.maximum(x, 0.0),
                      backward=lambda g, out, x: (np.where(x > 0.0, g, 0.0),)),  # a comparison of a Value
    ]


@pytest.mark.parametrize("index", range(3))
def test_a_backward_for_numbers_only_is_refused_with_create_graph(fresh_registry, index):
    op = _numbers_only_ops()[index]

    class Plugin:
        @microgradx.hookimpl
        def microgradx_register_ops(self, register):
            register(op)

    with microgradx.plugin_registered(Plugin(), name="numbers-only"):
        for data in (0.7, np.array([0.7, 1.2])):
            x = Value(data)
            y = _total(getattr(x, op.name)() * 2.0)
            y.backward()  # without create_graph it runs on numbers, as before
            assert np.all(np.asarray(x.grad) != 0.0)
            with pytest.raises(TypeError) as info:
                y.backward(create_graph=True)
            message = str(info.value)
            assert f"op {op.name!r} from plugin 'numbers-only'" in message
            assert "written with operators and ops" in message
            assert "docs/plugins.md, 'A backward that is differentiable'" in message


def test_the_docs_section_the_message_points_at_exists():
    from pathlib import Path

    from microgradx.engine.errors import ON_VALUES

    docs = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
    section = ON_VALUES.split("docs/plugins.md, '")[1].split("'")[0]
    headings = [line.lstrip("#").strip() for line in docs.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")]
    assert section in headings, f"docs/plugins.md has no section {section!r}"


def test_a_backward_returning_numbers_on_values_is_refused(fresh_registry):
    """A backward that reads the data (so gives a number, not a Value) would make the second derivative 0."""
    op = microgradx.Op(name="data_square", forward=lambda x: x * x,
                       backward=lambda g, out, x: (2.0 * (x.data if isinstance(x, Value) else x),))
    x = Value(1.5)
    y = apply(op, x)
    with pytest.raises(TypeError, match=r"op 'data_square'.*returned a float, not a Value.*A backward that is "
                                        r"differentiable"):
        y.backward(create_graph=True)


def test_first_derivatives_with_a_graph_equal_those_without_everywhere_on_the_edge_grid():
    """At every bundled op's edge points (near 0, large magnitudes) the create_graph path gives the same numbers."""
    from microgradx.testing.points import edge_grid

    for name in BUNDLED_OPS:
        op = REGISTRY.get("ops", name)
        for arity in _arities(op)[:3]:
            for xs in edge_grid(arity):
                try:
                    if op.check is not None:
                        op.check(*xs)
                    with np.errstate(all="ignore"):
                        op.forward(*xs)
                except (ValueError, ArithmeticError):
                    continue
                with np.errstate(all="ignore"):
                    plain = first_derivatives(op_function(op), list(xs))
                    vs = [Value(x) for x in xs]
                    graph = gradients(apply(op, *vs), vs, create_graph=True)
                graph = [_as_array(g, x) for g, x in zip(graph, xs)]
                for got, want in zip(graph, plain):
                    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300,
                                               err_msg=f"op {name!r} at {xs}")
