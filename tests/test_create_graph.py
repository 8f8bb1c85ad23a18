"""``backward(create_graph=True)``: gradients that are Values, as PyTorch's are, compiled too (issue 23, points 1, 4).

The second derivatives of each bundled op are checked op by op in tests/test_second_derivatives.py;
here: the pass itself (accumulation, ``retain_graph``, lanes, what does not change without the
flag) and functions that take a gradient inside, compiled against eager over random programs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.programs import eager_arguments, make_program, mismatch

import microgradx
from microgradx import Value, gradients
from microgradx.engine.errors import GraphReleasedError
from microgradx.nn import DenseMLP


def _torch_scalar(torch, x: float):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


# -- the pass ------------------------------------------------------------------------------------------------


def test_a_gradient_is_a_value_whose_backward_gives_the_second_derivative():
    x = Value(2.0)
    y = x * x * x
    y.backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 12.0  # 3x**2
    g = x.grad
    x.grad = 0.0
    g.backward()
    assert x.grad == 12.0  # 6x
    assert isinstance(x.grad, float)  # without the flag, numbers


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")  # PyTorch's, on itself
def test_gradients_accumulate_as_pytorchs_do(torch):
    """Two create_graph passes add up; a backward through x.grad adds into x.grad itself, as in PyTorch."""
    x = Value(0.7)
    y = (x * x.tanh()).exp()
    y.backward(create_graph=True)
    y.backward(create_graph=True)
    first = x.grad.data
    x.grad.backward()
    X = _torch_scalar(torch, 0.7)
    Y = (X * X.tanh()).exp()
    Y.backward(create_graph=True)
    Y.backward(create_graph=True)
    torch_first = X.grad.item()
    X.grad.backward()
    assert first == pytest.approx(torch_first, rel=1e-12)
    assert x.grad.data == pytest.approx(X.grad.item(), rel=1e-12)


def test_a_float_gradient_then_a_graph_gradient_add_up():
    x = Value(1.5)
    (x * x).backward()  # 2x = 3, a float
    (x * x * x).backward(create_graph=True)  # + 3x**2 = 6.75, a Value
    assert isinstance(x.grad, Value) and x.grad.data == pytest.approx(9.75)
    total = x.grad
    x.grad = 0.0
    total.backward()
    assert x.grad == pytest.approx(9.0)  # d(6.75-part)/dx = 6x; the float part is a constant


@pytest.mark.parametrize(("name", "f", "survives"), [
    ("x**3", lambda x: x**3, True),  # its gradient 3 * x**2 needs only x
    ("x*x*x", lambda x: x * x * x, False),  # its gradient needs x*x, whose graph is freed
    ("tanh", lambda x: x.tanh(), False),  # 1 - t**2 needs t = tanh(x), whose graph is freed
])
def test_retain_graph_false_frees_the_graph_as_pytorch_does(torch, name, f, survives):
    x = Value(0.5)
    f(x).backward(create_graph=True, retain_graph=False)
    g, x.grad = x.grad, 0.0
    X = _torch_scalar(torch, 0.5)
    f(X).backward(create_graph=True, retain_graph=False)
    G, X.grad = X.grad, None
    if survives:
        g.backward()
        G.backward()
        assert x.grad == pytest.approx(X.grad.item(), rel=1e-12)
    else:
        with pytest.raises(GraphReleasedError, match="released"):
            g.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            G.backward()


def test_without_the_flag_nothing_changes():
    """The gradients stay numbers (a float, lanes), and no Value is made during backward."""
    x, w = Value(np.array([0.5, -1.0, 2.0])), Value(0.3)
    out = ((x * w).tanh() + x.relu()).lane_mean()
    made = Value.__init__
    count = []

    def counting(self, *args, **kwargs):
        count.append(1)
        made(self, *args, **kwargs)

    Value.__init__ = counting
    try:
        out.backward()
    finally:
        Value.__init__ = made
    assert not count
    assert isinstance(w.grad, float) and isinstance(x.grad, np.ndarray)


def test_lanes_each_get_their_own_second_derivative():
    xs = np.array([-1.0, 0.2, 1.3])
    x = Value(xs)
    (x.tanh() * x).backward(np.ones(3), create_graph=True)  # d/dx (x tanh x) = tanh x + x (1 - tanh**2)
    g = x.grad
    x.grad = 0.0
    g.backward(np.ones(3))
    t = np.tanh(xs)
    assert np.allclose(g.data, t + xs * (1 - t**2))
    assert np.allclose(x.grad, 2 * (1 - t**2) - 2 * xs * t * (1 - t**2))


def test_a_gradient_penalty_matches_pytorch(torch):
    """d/dw of |dL/dw|^2 for a small MLP's loss: the gradient-penalty pattern, against PyTorch's double backward."""
    model = DenseMLP(3, [4, 1], activation="tanh", seed=1)
    params = model.parameters()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=5)
    out = model([Value(X[:, j]) for j in range(3)])[0]
    loss = ((out - Value(y)) ** 2).lane_mean()
    grads = gradients(loss, params, create_graph=True)
    penalty = grads[0] * grads[0]
    for g in grads[1:]:
        penalty = penalty + g * g
    penalty.backward()
    ours = np.array([p.grad for p in params])
    weights = [torch.tensor(np.array([[n.w[i].data for i in range(n.nin)] for n in layer.neurons]),
                            dtype=torch.float64, requires_grad=True) for layer in model.layers]
    biases = [torch.tensor(np.array([n.b.data for n in layer.neurons]), dtype=torch.float64, requires_grad=True)
              for layer in model.layers]
    h = torch.tensor(X)
    h = torch.tanh(h @ weights[0].T + biases[0])
    T = (h @ weights[1].T + biases[1])[:, 0]
    L = ((T - torch.tensor(y)) ** 2).mean()
    leaves = [t for pair in zip(weights, biases) for t in pair]
    G = torch.autograd.grad(L, leaves, create_graph=True)
    P = sum((g * g).sum() for g in G)
    P.backward()
    by_param = {}
    for layer, W, B in zip(model.layers, weights, biases):
        for j, n in enumerate(layer.neurons):
            for i, w in enumerate(n.w):
                by_param[id(w)] = W.grad[j, i].item()
            by_param[id(n.b)] = B.grad[j].item()
    assert penalty.data == pytest.approx(P.item(), rel=1e-10)
    assert np.allclose(ours, [by_param[id(p)] for p in params], rtol=1e-9, atol=1e-12)


def test_third_derivatives_compose():
    def f(t: float) -> float:
        return math.exp(t) * math.tanh(t)

    def d2(t: float, h: float = 1e-4) -> float:
        return (f(t + h) - 2 * f(t) + f(t - h)) / h**2

    x = Value(0.4)
    (g1,) = gradients(x.exp() * x.tanh(), [x], create_graph=True)
    (g2,) = gradients(g1, [x], create_graph=True)
    (g3,) = gradients(g2, [x])
    assert g2.data == pytest.approx(d2(0.4), rel=1e-6)
    assert g3 == pytest.approx((d2(0.4 + 1e-3) - d2(0.4 - 1e-3)) / 2e-3, rel=1e-4)


# -- compiled: a function that takes a gradient inside ------------------------------------------------------


def _pinn_residual(model):
    """u'' + u at collocation points (lanes), the physics-informed loss of examples/pinn.py in miniature."""

    def residual(x: Value) -> Value:
        u = model([x])[0]
        (du,) = gradients(u, [x], create_graph=True, grad_output=1.0)
        (d2u,) = gradients(du, [x], create_graph=True, grad_output=1.0)
        return ((d2u + u) ** 2).lane_mean()

    return residual


def test_a_physics_informed_loss_compiled_equals_eager_at_any_batch_size():
    model = DenseMLP(1, [8, 8, 1], activation="tanh", seed=3)
    residual = _pinn_residual(model)
    compiled = microgradx.compile(residual)
    params = model.parameters()
    rng = np.random.default_rng(1)
    for rows in (16, 16, 5, 40):
        xs = rng.uniform(0, 2 * math.pi, size=rows)
        for p in params:
            p.grad = 0.0
        got = compiled(xs)
        got.backward()
        ours = [p.grad for p in params]
        for p in params:
            p.grad = 0.0
        want = residual(Value(xs))
        want.backward()
        assert mismatch(got.data, want.data) is None
        for p, g in zip(params, ours):
            assert mismatch(g, p.grad) is None, p.label
        for p in params:  # an optimizer's step: the next call reads the moved parameters
            p.data -= 0.01 * p.grad
    assert compiled.recordings == 1


def test_gradients_touch_only_their_inputs_so_a_pinn_trains_under_a_parameter_store():
    """d u/d x leaves the parameters' .grad alone (torch.autograd.grad's way): a ParameterStore may hold them."""
    model = DenseMLP(1, [8, 1], activation="tanh", seed=2)
    params = model.parameters()
    residual = _pinn_residual(model)
    xs = np.linspace(0.0, 6.0, 12)
    want = residual(Value(xs))
    want.backward()
    eager = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    compiled = microgradx.compile(residual)
    with microgradx.ParameterStore(params):
        got = compiled(xs)
        got.backward()
        stored = [p.grad for p in params]
    assert got.data == pytest.approx(want.data, rel=1e-12)
    assert np.allclose(stored, eager, rtol=1e-10, atol=1e-14)


def test_a_gradient_graph_for_a_stored_parameter_is_refused_naming_it():
    w = microgradx.Parameter(3.0)
    with microgradx.ParameterStore([w]):
        with pytest.raises(TypeError, match=r"held by a ParameterStore.*cannot take a gradient graph"):
            gradients(w**3, [w], create_graph=True)
        assert w.grad == 0.0  # nothing half-changed
    (g,) = gradients(w**3, [w], create_graph=True)
    assert g.data == 27.0


def test_a_compiled_gradient_of_a_gradient_reads_a_decision_as_an_error():
    """The contract holds inside: a Python decision on a gradient's data while recording is refused."""

    def fn(x: Value) -> Value:
        (g,) = gradients((x * x).lane_sum(), [x], create_graph=True)
        return g.lane_sum() if float(g.lane_sum()) > 0 else -g.lane_sum()

    with pytest.raises(microgradx.TracedDataError):
        microgradx.compile(fn)(np.array([1.0, 2.0]))


def _penalised(instance):
    """The program's outputs, and the squared norm of the first's gradient with respect to what it closes over."""
    program = instance.program

    def fn(*args):
        outs = instance.fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        first = next(o for k, o in enumerate(outs) if k not in program.monitors)
        loss = Value(0.0)
        for out in (first if isinstance(first, list) else [first]):  # (scalar programs: one Value per example)
            loss = loss + (out.lane_sum() if isinstance(out.data, np.ndarray) else out)
        wrt = [v for v in instance.closed() if v.grad is not None]
        penalty = loss * 0.0
        for g in gradients(loss, wrt, create_graph=True):
            if isinstance(g, Value):
                penalty = penalty + ((g * g).lane_sum() if isinstance(g.data, np.ndarray) else g * g)
        return loss, penalty

    return fn


DIFFERENTIAL_SEEDS = {True: range(9000, 9400), False: range(10000, 10250)}


@pytest.mark.parametrize("lanes", [True, False], ids=["lanes", "scalar"])
def test_random_programs_with_a_gradient_penalty_compiled_equal_eager(lanes):
    """Random programs (tests/helpers/programs.py) with a penalty on their gradient: outputs and its gradients."""
    failures, ran = [], 0
    for seed in DIFFERENTIAL_SEEDS[lanes]:
        program = make_program(seed, lanes, monitors=False, debug=False)
        if program.specials:  # (NaN inputs: a gradient's NaN is checked by the main differential tests)
            continue
        ran += 1
        rng = np.random.default_rng(seed)
        instance = program.instantiate()
        fn = _penalised(instance)
        compiled = microgradx.compile(fn, lanes=lanes)
        problems = []
        for call in range(2):
            args = program.arguments(rng, program.rows)
            with np.errstate(all="ignore"):
                try:
                    got = compiled(*args)
                    for v in instance.closed():
                        v.grad = 0.0
                    got[1].backward()
                    got_grads = [np.array(v.grad, dtype=np.float64) for v in instance.closed()]
                    seen, _ = eager_arguments(args, lanes)
                    want = fn(*seen)
                    for v in instance.closed():
                        v.grad = 0.0
                    want[1].backward()
                    want_grads = [np.array(v.grad, dtype=np.float64) for v in instance.closed()]
                except Exception as exc:
                    problems.append(f"call {call}: {type(exc).__name__}: {exc}")
                    break
            for name, g, w in [("output", got[0].data, want[0].data), ("penalty", got[1].data, want[1].data)]:
                diff = mismatch(g, w, rtol=1e-8, atol=1e-10)
                if diff:
                    problems.append(f"call {call}: {name} is {diff}")
            for i, (g, w) in enumerate(zip(got_grads, want_grads)):
                diff = mismatch(g, w, rtol=1e-8, atol=1e-10)
                if diff:
                    problems.append(f"call {call}: d penalty / closed-over Value {i} is {diff}")
            if problems:
                break
            instance.step(rng)
        if problems:
            failures.append((program, problems))
    assert ran >= len(DIFFERENTIAL_SEEDS[lanes]) // 2
    assert not failures, (f"{len(failures)} programs differ; the first:\n" + "\n".join(failures[0][1][:5])
                          + "\n" + failures[0][0].describe())
