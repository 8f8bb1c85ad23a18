"""micrograd's introspection on `Value` (``_prev``, ``_op``, ``label``, ``_backward()``), the constant
exponent of ``x ** 2``, and micrograd's ``nn`` in `microgradx.nn`: each against micrograd 0.1.0.
"""

from __future__ import annotations

import io
import itertools
import math
import random
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

import microgradx
from microgradx import Op, PluginWarning, Value, hookimpl, ops, plugin_registered
from microgradx.engine import autograd
from microgradx.engine.optable import OPS
from microgradx.nn import MLP, DenseMLP, Layer, Neuron

mg_engine = pytest.importorskip("micrograd.engine", reason='micrograd 0.1.0 is the reference: pip install -e ".[test]"')
mg_nn = pytest.importorskip("micrograd.nn")
ROOT = Path(__file__).resolve().parents[1]


def neuron(V):
    """A neuron and a loss with the Value class ``V``, from the ops micrograd 0.1.0 has (+, *, **, relu)."""
    x1, x2, w1, w2, b = V(2.0), V(0.0), V(-3.0), V(1.0), V(6.8813735870195432)  # the lecture's neuron
    x1w1, x2w2 = x1 * w1, x2 * w2
    n = x1w1 + x2w2 + b
    r = n.relu()
    o = n ** 2 * r + (r + 1) ** -1
    return [x1, x2, w1, w2, b, x1w1, x2w2, n, r, o]


def build_topo(root):
    """The lecture's ``build_topo``, written against ``_prev``: every node after its children."""
    topo, visited = [], set()

    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)

    build(root)
    return topo


# -- _prev, _op, label --------------------------------------------------------------------------


def test_prev_is_the_set_of_inputs():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    assert c._prev == {a, b} and isinstance(c._prev, set)
    assert (a + a)._prev == {a}  # a set, as micrograd's: a used twice is there once
    assert a._prev == set()
    assert c.parents == (a, b)  # the ordered inputs, which the engine uses


@pytest.mark.parametrize("make, symbol", [
    (lambda a, b: a + b, "+"), (lambda a, b: a * b, "*"), (lambda a, b: a.tanh(), "tanh"),
    (lambda a, b: a.exp(), "exp"), (lambda a, b: a.relu(), "ReLU"), (lambda a, b: a ** 2, "**2"),
    (lambda a, b: a ** -1, "**-1"), (lambda a, b: a ** 0.5, "**0.5"), (lambda a, b: a ** b, "**"),
    (lambda a, b: a - b, "-"), (lambda a, b: a / b, "/"), (lambda a, b: -a, "-"), (lambda a, b: a, ""),
])
def test_op_is_micrograds_symbol(make, symbol):
    out = make(Value(2.0), Value(3.0))
    assert out._op == symbol
    if symbol in ("+", "*", "ReLU", "**2", "**-1", "**0.5", ""):  # the ops micrograd 0.1.0 has: its strings
        mine = make(mg_engine.Value(2.0), mg_engine.Value(3.0))
        assert mine._op == symbol


def test_the_op_record_is_op_and_its_symbol_defaults_to_its_name():
    a = Value(1.0)
    assert (a * 2).op is OPS["mul"] and OPS["mul"].symbol == "*"
    assert repr(OPS["mul"]) == "Op('mul', arity=2, symbol='*')"
    assert OPS["sigmoid"].symbol == "sigmoid" and a.sigmoid()._op == "sigmoid"
    assert a.op is None and a._op == "" and a.label == ""  # a leaf, as micrograd's: no op, no label


@pytest.mark.parametrize("symbol, error", [("", "non-empty str"), (3, "non-empty str")])
def test_a_bad_symbol_names_the_op(symbol, error):
    with pytest.raises(TypeError, match=f"Op 'twice': symbol must be a {error}"):
        Op(name="twice", forward=lambda x: 2 * x, backward=lambda g, out, x: (2 * g,), symbol=symbol)


def test_the_package_reads_the_op_record_not_micrograds_string():
    """Inside microgradx, ``v._op`` is micrograd's string: code that means the Op reads ``v.op``.

    (A guard for merges: a leftover ``v._op`` would compare a string with an Op and quietly be False.)
    """
    found = []
    for path in [*(ROOT / "microgradx").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
        for dot, name in itertools.pairwise(tokens):
            if dot.string == "." and name.type == tokenize.NAME and name.string == "_op":
                found.append(f"{path.relative_to(ROOT)}:{name.start[0]}: {name.line.strip()}")
    assert found == [], "\n".join(found)


# -- _backward() ---------------------------------------------------------------------------------


def test_underscore_backward_steps_like_micrograds_closures():
    """Setting the root's grad and calling ``_backward()`` node by node, root first, is ``backward()``."""
    mine, theirs = neuron(Value), neuron(mg_engine.Value)
    for nodes in (mine, theirs):
        nodes[-1].grad = 1.0
        for v in reversed(build_topo(nodes[-1])):  # the lecture's cells: o._backward(); n._backward(); ...
            v._backward()
    for a, b in zip(mine, theirs):
        assert a.data == pytest.approx(b.data, rel=1e-12) and a.grad == pytest.approx(b.grad, rel=1e-12)
    fresh = neuron(Value)
    fresh[-1].backward()
    assert [v.grad for v in fresh] == pytest.approx([v.grad for v in mine], rel=1e-15)
    assert mine[0].grad != 0.0 and mine[1].grad != 0.0


def test_underscore_backward_accumulates_and_does_nothing_for_a_leaf():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    c.grad = 1.0
    c._backward()
    c._backward()  # micrograd's closures add: twice is twice
    assert (a.grad, b.grad) == (-6.0, 4.0)
    a._backward()  # a leaf: micrograd's `lambda: None`
    assert (a.grad, b.grad) == (-6.0, 4.0)


def test_underscore_backward_is_the_drivers_step(monkeypatch):
    seen = []
    monkeypatch.setattr(autograd, "visit_node", lambda v: seen.append(v))
    c = Value(1.0) * 2.0
    c._backward()
    assert seen == [c]  # the driver's own step, not a copy of the chain rule


def test_underscore_backward_checks_in_anomaly_mode():
    x = Value(0.0)
    y = x ** 0.5  # d/dx sqrt(x) = inf at 0
    y.grad = 1.0
    with microgradx.detect_anomaly(), pytest.raises(FloatingPointError, match="backward of op 'pow'"):
        y._backward()


def test_underscore_backward_through_a_released_graph_says_so():
    x = Value(2.0)
    y = x * x
    y.backward(retain_graph=False)
    with pytest.raises(microgradx.GraphReleasedError, match="released"):
        y._backward()


# -- x ** 2: a constant exponent ------------------------------------------------------------------


def test_a_number_exponent_is_a_constant_of_the_node():
    x = Value(3.0, label="x")
    y = x ** 2
    assert y.parents == (x,) and y._op == "**2" and y.data == 9.0
    y.backward()
    assert x.grad == 6.0
    assert (Value(1.0) ** 2).op is y.op  # one op per exponent: the compiler batches nodes by op
    assert (x ** 2.0)._op == "**2.0" and (x ** 2.0).op is not y.op  # shown as micrograd shows the number
    assert (x ** np.int64(3))._op == "**3" and (x ** np.float64(0.5))._op == "**0.5"


@pytest.mark.parametrize("data, exponent", [(3.0, 2), (-1.5, 3), (2.5, -1), (4.0, 0.5), (-2.0, 2.0), (0.7, 0),
                                            (1e-3, -2)])
def test_a_number_exponent_matches_micrograd(data, exponent):
    mine, theirs = Value(data), mg_engine.Value(data)
    a, b = (mine * 1.5) ** exponent, (theirs * 1.5) ** exponent
    a.backward()
    b.backward()
    assert a.data == pytest.approx(b.data, rel=1e-15) and mine.grad == pytest.approx(theirs.grad, rel=1e-15)


def test_a_value_exponent_is_an_input_with_its_gradient():
    x, p = Value(2.0), Value(3.0)
    y = x ** p
    assert y.parents == (x, p) and y._op == "**"
    y.backward()
    assert x.grad == pytest.approx(12.0) and p.grad == pytest.approx(8.0 * math.log(2.0))
    z = 2 ** x  # a number base: the exponent is the Value
    assert z.parents[1] is x and z.data == 4.0


def test_a_constant_exponent_works_on_lanes_and_checks_its_domain():
    x = Value(np.array([1.0, -2.0, 3.0]))
    y = (x ** 2).lane_sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    with pytest.raises(ValueError, match=r"op 'pow': negative base -2.0 to the non-integer exponent 0.5 \(lane 1\)"):
        x ** 0.5
    with pytest.raises(ZeroDivisionError, match=r"op 'pow': 0\.0 to the negative exponent"):
        Value(0.0) ** -1
    with pytest.raises(TypeError, match="not str"):
        Value(2.0) ** "2"


def test_a_pow_op_without_with_constant_takes_the_number_as_an_input(fresh_registry):
    plain = Op(name="pow", arity=2, forward=lambda x, y: x ** y,
               backward=lambda g, out, x, y: (g * y * x ** (y - 1), g * out * math.log(x)))

    class Plugin:
        @hookimpl
        def microgradx_register_ops(self, register):
            register(plain, replace=True)

    with pytest.warns(PluginWarning, match="replaces the built-in op 'pow'"), \
            plugin_registered(Plugin(), name="plain-pow"):
        y = Value(2.0) ** 3
        assert y.op is plain and len(y.parents) == 2 and y.parents[1].data == 3.0  # a leaf, as before
    assert (Value(2.0) ** 3)._op == "**3"


def test_compiled_functions_replay_constant_exponents():
    w = Value(0.5, label="w")

    def f(x):
        return ((w * x - 1.0) ** 2 + x ** 2 * 0.25 + (x * w) ** 3 + x.tanh() ** 2).lane_mean()

    compiled = microgradx.compile(f, check=True)
    for X in (np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25]), np.array([-1.0, 4.0, 2.0, 0.0])):
        w.grad = 0.0
        out = compiled(X)
        out.backward()
        got = out.data, w.grad
        w.grad = 0.0
        eager = f(Value(X))
        eager.backward()
        assert got[0] == pytest.approx(eager.data, rel=1e-12) and got[1] == pytest.approx(w.grad, rel=1e-12)


# -- micrograd's nn --------------------------------------------------------------------------------


def test_micrograds_mlp_from_the_same_seed_is_micrograds():
    random.seed(1337)
    mine = MLP(2, [16, 16, 1])
    random.seed(1337)
    theirs = mg_nn.MLP(2, [16, 16, 1])
    assert repr(mine) == repr(theirs) and len(mine.parameters()) == len(theirs.parameters()) == 337
    assert [p.data for p in mine.parameters()] == [p.data for p in theirs.parameters()]
    x = [Value(0.5), Value(-1.5)]
    out, want = mine(x), theirs([mg_engine.Value(0.5), mg_engine.Value(-1.5)])
    assert isinstance(out, Value) and out.data == pytest.approx(want.data, rel=1e-12)  # one Value: nout == 1
    out.backward()
    want.backward()
    assert [p.grad for p in mine.parameters()] == pytest.approx([p.grad for p in theirs.parameters()], rel=1e-12)
    mine.zero_grad()
    assert {p.grad for p in mine.parameters()} == {0.0}


def test_neuron_and_layer_as_micrograds():
    random.seed(7)
    n, layer = Neuron(3, nonlin=False), Layer(3, 2)
    random.seed(7)
    m, mlayer = mg_nn.Neuron(3, nonlin=False), mg_nn.Layer(3, 2)
    assert (repr(n), repr(layer)) == (repr(m), repr(mlayer)) == ("LinearNeuron(3)",
                                                                   "Layer of [ReLUNeuron(3), ReLUNeuron(3)]")
    assert n.b.data == 0.0 and [w.data for w in n.w] == [w.data for w in m.w]
    outs = layer([1.0, 2.0, -1.0])
    assert isinstance(outs, list) and len(outs) == 2  # a list: nout == 2
    assert [o.data for o in outs] == pytest.approx([o.data for o in mlayer([1.0, 2.0, -1.0])], rel=1e-12)
    assert Neuron(2).parameters()[-1]._op == "" and len(Layer(2, 3).parameters()) == 9


@pytest.mark.parametrize("make, error, match", [
    (lambda: MLP(0, [2]), ValueError, r"MLP: nin must be a positive int.*got 0"),
    (lambda: MLP(2, [3, 0]), ValueError, r"MLP: nouts\[1\] must be a positive int.*got 0"),
    (lambda: MLP(2, []), TypeError, "MLP: nouts must be a non-empty list"),
    (lambda: MLP(2, 3), TypeError, "MLP: nouts must be a non-empty list"),
    (lambda: Neuron(2.5), ValueError, "Neuron: nin must be a positive int"),
    (lambda: Layer(2, True), ValueError, "Layer: nout must be a positive int"),
])
def test_bad_sizes_are_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_the_bundled_mlp_is_densemlp_under_its_registered_name():
    assert microgradx.get_registry().get("layers", "MLP") is DenseMLP
    model = DenseMLP(3, [4, 1], activation="tanh", seed=0)
    assert isinstance(model(np.zeros((5, 3))), list) and repr(model).startswith("MLP(nin=3")


def test_ops_namespace_and_methods_still_see_pow():
    x = Value(2.0)
    assert ops.pow(x, 3.0).data == 8.0 and len(ops.pow(x, 3.0).parents) == 2  # the registered op: two inputs


# -- draw_dot -------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["auto", "builtin"])
def test_draw_dot_displays_inline_as_micrograds_does(engine, tmp_path, monkeypatch):
    """trace_graph.ipynb's cells: ``y = (x * 2 + 1).relu(); y.backward(); draw_dot(y)`` shows the picture."""
    formatters = pytest.importorskip("IPython.core.formatters", reason="IPython comes with the test extras")
    from microgradx.draw import draw_dot, find_dot

    x = Value(1.0)
    y = (x * 2 + 1).relu()
    y.backward()
    dot = draw_dot(y, engine=engine)
    assert dot.engine == ("graphviz" if engine == "auto" and find_dot() else "builtin")
    shown, _ = formatters.DisplayFormatter().format(dot)  # what Jupyter puts in the cell's output
    assert {"image/svg+xml", "text/html"} <= set(shown)
    svg = shown["image/svg+xml"]
    assert svg.startswith("<svg") and svg.count("<svg") == 1
    texts = {s.strip() for s in re.findall(r">([^<>]+)</text>", svg)}
    assert {"*", "+", "ReLU", "data 3", "grad 1", "grad 2"} <= texts  # y = relu(1*2 + 1) = 3, dy/dx = 2
    assert "digraph" in dot.source and 'label="ReLU"' in dot.source
    path = dot.render(tmp_path / "gout")  # trace_graph.ipynb ends with dot.render('gout')
    assert path == tmp_path / "gout.svg" and path.read_text() == dot.svg
    assert "digraph" in (tmp_path / "gout").read_text()


def test_draw_dot_without_graphviz_uses_the_built_in_layout(monkeypatch):
    from microgradx.draw import draw_dot, inline

    monkeypatch.setattr(inline, "find_dot", lambda: None)
    dot = draw_dot(Value(2.0, label="a") ** 2)
    assert dot.engine == "builtin" and ">**2<" in dot.svg and ">a<" in dot.svg
    with pytest.raises(RuntimeError, match="needs Graphviz's `dot` program"):
        draw_dot(Value(1.0) * 2, engine="graphviz")
    with pytest.raises(ValueError, match="draw_dot shows SVG"):
        draw_dot(Value(1.0), format="png")
    with pytest.raises(ValueError, match="engine must be one of"):
        draw_dot(Value(1.0), engine="neato")


EDGES = [(10.0, 400.0), (-1e308, 3.0), (0.0, -1.0), (-0.0, -2.0), (0.0, -math.inf), (0.0, 0.0), (0.0, 0.5),
         (0.0, 2.0), (-2.0, 0.5), (-2.0, 3.0), (-2.0, math.inf), (-0.5, math.inf), (-2.0, math.nan), (math.nan, 0.0),
         (1.0, math.nan), (math.inf, -1.0), (3.0, 2.0), (2.5, -1.5), (-1.5, 2.0)]


@pytest.mark.parametrize("x, y", EDGES)
def test_a_constant_exponent_has_pows_edge_cases(x, y):
    """``x ** c`` (one input) computes what the registered two-input ``pow`` computes, edges included
    (docs/edge_cases.md), on a float and on lanes; only the exponent's gradient is gone."""
    from microgradx_plugins.arithmetic import pow_constant

    pow2, pow1 = OPS["pow"], pow_constant(y)

    def outcome(op, *xs):
        try:
            if op.check is not None:
                op.check(*xs)
            out = op.forward(*xs)
            return out, op.backward(1.0 if not isinstance(out, np.ndarray) else np.ones_like(out), out, *xs)[0]
        except (ValueError, ZeroDivisionError) as exc:
            return type(exc), str(exc).split(":")[0]

    for xs in (x, np.array([x, 1.5])):
        with np.errstate(all="ignore"):  # (lane mode's 0 * inf warns, as docs/edge_cases.md says)
            want, got = outcome(pow2, xs, y), outcome(pow1, xs)
        np.testing.assert_equal(got, want)


@pytest.mark.parametrize("c", [2, 3, 0.5, -1, 2.5])
def test_a_constant_exponents_op_keeps_the_op_contract(c):
    """check_op: arity, shapes, lanes against floats, and the derivative against finite differences."""
    from microgradx.testing import check_op
    from microgradx_plugins.arithmetic import pow_constant

    result = check_op(pow_constant(c))
    assert result.ok, result
