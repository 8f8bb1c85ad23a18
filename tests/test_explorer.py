"""The explorer page without a browser: the replayed chain rule, the timeline, explore() and graph --html.

The page in a real browser is tested in tests/test_explorer_browser.py.
"""

from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest
from test_draw import run_graph

import microgradx
from microgradx import Value, get_registry, topological_order, zero_grad
from microgradx.cli.graph import evaluate
from microgradx.draw import backward_steps, build_model_graph, explore, explorer_html
from microgradx.draw.picture import Picture
from microgradx.draw.steps import final_grads
from microgradx.draw.timeline import Timeline
from microgradx.engine.errors import GraphReleasedError

TANH4 = math.tanh(4.0)  # 0.99933
DC = 1 - TANH4 ** 2  # 0.0013409


def expression():
    out, inputs = evaluate("tanh(a*b + c)", {"a": 2.0, "b": -3.0, "c": 10.0})
    return out, inputs


def page_data(text: str) -> dict:
    """The JSON the page's script reads."""
    match = re.search(r'<script type="application/json" id="mgx-steps">(.*?)</script>', text, re.S)
    assert match, "no step data in the page"
    return json.loads(match.group(1))


def graphs():
    """Graphs of every kind the page handles: expression, neurons, MLPs, lanes, a repeated input, two roots."""
    out, _ = expression()
    yield "expression", [out]
    yield "neuron", build_model_graph("Neuron", 3, activation="tanh", seed=2)[1]
    MLP = get_registry().get("layers", "MLP")
    for fused in (False, True):
        model = MLP(2, [3, 1], activation="tanh", seed=1, fused=fused)
        yield f"mlp fused={fused}", list(model([Value(0.5), Value(-1.5)]))
    x, w = Value(np.array([0.5, -1.0, 2.0]), label="x"), Value(0.3, label="w")
    yield "lanes", [(((w * x).tanh() - 1.0) ** 2).lane_mean()]
    a = Value(1.5, label="a")
    yield "repeated input", [a * a + a.exp() / a]
    p, q = Value(0.7, label="p"), Value(-0.2, label="q")
    shared = p * q
    yield "two roots", [shared.tanh(), shared + q]


@pytest.mark.parametrize("name, roots", list(graphs()), ids=[n for n, _ in graphs()])
def test_the_replayed_steps_end_with_the_grads_backward_computes(name, roots):
    nodes = {id(v): v for r in roots for v in topological_order(r)}.values()
    assert all(np.all(np.asarray(v.grad) == 0) for v in nodes)
    steps = backward_steps(roots if len(roots) > 1 else roots[0])
    assert all(np.all(np.asarray(v.grad) == 0) for v in nodes), "the replay must not touch .grad"
    replayed = final_grads(steps, roots)
    for r in roots:
        r.backward()
    for v in nodes:
        if len(roots) > 1 and v.op is not None:
            continue  # backward() on each root sets an op output's grad afresh; only leaves add up
        expected = v.grad
        got = replayed.get(id(v), 0.0)
        assert np.shape(got) == np.shape(expected), name
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=f"{name}: {v!r}")
    assert len(steps) == sum(v.op is not None for v in nodes)  # one step per op output
    zero_grad(nodes)


def test_each_step_writes_out_the_chain_rule():
    out, inputs = expression()
    tanh_step, add_step, mul_step = backward_steps(out)
    assert (tanh_step.op.name, add_step.op.name, mul_step.op.name) == ("tanh", "add", "mul")
    assert tanh_step.upstream == 1.0
    (t,) = tanh_step.terms
    assert t.local == pytest.approx(DC, rel=1e-12) and t.product == pytest.approx(DC, rel=1e-12)
    assert add_step.upstream == pytest.approx(0.0013409, abs=1e-7)
    a, b = mul_step.terms
    assert (a.input, b.input) == (inputs["a"], inputs["b"])
    assert (a.local, b.local) == (-3.0, 2.0)  # d(ab)/da = b, d(ab)/db = a
    assert a.product == pytest.approx(-3.0 * DC, rel=1e-12) and a.before == 0.0 and a.after == a.product


def test_a_repeated_input_accumulates_step_by_step():
    x = Value(3.0, label="x")
    (step,) = backward_steps(x * x)
    first, second = step.terms
    assert (first.before, first.after, second.before, second.after) == (0.0, 3.0, 3.0, 6.0)


def test_the_steps_are_the_engines_own_pass_through_its_visiting_hook(monkeypatch):
    """No chain rule on the side: one backward() call with the recorder as its visiting hook, each op's
    backward run once per node, in the engine's order; anomaly mode's checks run under the recorder."""
    from microgradx.draw import steps as recorder
    from microgradx.engine import autograd

    out, _ = expression()
    calls, hooks = [], []
    monkeypatch.setattr(recorder, "backward", lambda *a, **k: hooks.append(k["visit"]) or autograd.backward(*a, **k))
    monkeypatch.setattr(recorder, "local_gradients", lambda v: calls.append(v) or autograd.local_gradients(v))
    steps = backward_steps(out)
    assert len(hooks) == 1 and callable(hooks[0])
    assert calls == [s.value for s in steps] == [v for v in reversed(topological_order(out)) if v.op is not None]
    x = Value(2.0, label="x")
    y = (x * Value(1e300) + x) * 1e300  # finite forward; the mul's gradient for x, 1e300 * 1e300, is not
    with microgradx.detect_anomaly(), pytest.raises(FloatingPointError, match="backward of op 'mul'"):
        backward_steps(y)  # both on: the recorder hands each node to anomaly mode's checking step
    assert x.grad == 0.0  # and the graph's grads are put back, even after an error


def test_released_graphs_and_bad_roots_are_refused():
    out, _ = expression()
    with pytest.raises(TypeError, match="not str"):
        backward_steps("tanh(a)")
    out.backward(retain_graph=False)
    with pytest.raises(GraphReleasedError, match=r"an earlier backward\(retain_graph=False\) released"):
        explorer_html(out)


def test_the_timeline_steps_forward_then_backward_node_by_node():
    out, inputs = expression()
    picture = Picture([out], None)
    line = Timeline(picture, picture.shown(None), 5)
    kinds = [e["kind"] for e in line.entries]
    assert kinds == ["start", "forward", "forward", "forward", "seed", "backward", "backward", "backward", "done"]
    ids = {name: picture.node(v).ident for name, v in inputs.items()}
    root = picture.node(out).ident
    assert line.initial[ids["a"]] == ("data 2", "grad 0")
    assert line.initial[root] == ("data ?", "grad 0")  # computed by the forward pass
    forward = line.entries[1:4]
    assert forward[0]["text"] == "a * b = 2 * -3 = -6"
    assert forward[2]["set"] == [[root, "data", "data 0.99933"]]
    seed, *backward = line.entries[4:8]
    assert seed["set"] == [[root, "grad", "grad 1"]]
    assert [e["visit"][0] for e in backward] == [root, picture.node(out.parents[0]).ident,
                                                 picture.node(out.parents[0].parents[0]).ident]
    mul = backward[2]
    assert mul["inputs"] == [ids["a"], ids["b"]]
    assert [t["local_text"] for t in mul["terms"]] == ["\u2202(a * b)/\u2202a = b = -3",
                                                       "\u2202(a * b)/\u2202b = a = 2"]
    assert [t["product"] for t in mul["terms"]] == ["-0.0040229", "0.0026819"]
    assert mul["set"] == [[ids["a"], "grad", "grad -0.0040229"], [ids["b"], "grad", "grad 0.0026819"]]
    assert backward[1]["set"][1] == [ids["c"], "grad", "grad 0.001341"]  # dc = 0.0013409..., 5 digits
    assert line.final()[ids["c"]] == ("data 10", "grad 0.001341")


def test_a_collapsed_neuron_is_one_step_with_its_inputs_and_parameters():
    model, outputs, inputs = build_model_graph("MLP", 2, [3, 1], activation="tanh", seed=0)
    picture = Picture(outputs, model)
    line = Timeline(picture, picture.shown(None), 5)
    backward = [e for e in line.entries if e["kind"] == "backward"]
    assert len(backward) == 4  # four neurons, each with its activation
    last = backward[-1]
    assert re.fullmatch(r"Backward step 4 of 4: L0\.n[0-2]", last["title"])
    neuron = model.layers[0].neurons[int(last["title"][-1])]
    by_name = {t["name"]: t for t in last["terms"]}
    assert list(by_name) == ["x0", "x1", neuron.b.label, neuron.w[0].label, neuron.w[1].label]  # as b + w.x reads
    # the neuron h = tanh(b + w0*x0 + w1*x1): dh/dw0 = (1 - h**2) x0, dh/dx0 = (1 - h**2) w0, dh/db = 1 - h**2
    slope = 1 - next(v for v in topological_order(outputs[0]) if v.label == neuron.scope).data ** 2
    assert float(by_name[neuron.w[0].label]["local"]) == pytest.approx(slope * inputs["x0"].data, rel=1e-4)
    assert float(by_name["x0"]["local"]) == pytest.approx(slope * neuron.w[0].data, rel=1e-4)
    assert float(by_name[neuron.b.label]["local"]) == pytest.approx(slope, rel=1e-4)
    upstream = float(by_name["x0"]["upstream"])
    assert float(by_name[neuron.b.label]["product"]) == pytest.approx(upstream * slope, rel=1e-4)


def test_explore_writes_a_self_contained_page(tmp_path):
    out, _ = expression()
    path = explore(out, tmp_path / "expr.html", title="tanh(a*b + c)")
    assert path == tmp_path / "expr.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "<style>" in text
    assert not re.search(r"""\s(src|href)=["'](?!data:|#)""", text), "the page must not load anything"
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    data = page_data(text)
    assert data["start"] == 0  # it opens at the start: nothing computed yet
    assert ">data ?<" in text and ">data 2<" in text and ">grad 0.001341<" not in text  # what it opens with
    assert ">a * b<" in text and ">a * b + c<" in text  # the inner nodes, named as the steps name them
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_labels_cannot_break_out_of_the_page():
    a = Value(1.0, label="</script><script>alert(1)</script>")
    b = Value(2.0, label="<b>bold</b> & co")
    text = explorer_html((a * b).tanh())
    assert text.count("<script") == 2  # the step data and the page's own script, nothing injected
    assert "alert(1)</script>" not in text
    names = {t["name"] for e in page_data(text)["entries"] for t in e.get("terms", [])}
    assert {a.label, b.label} <= names  # kept as text: the page sets them with textContent


def test_explore_names_bad_arguments(tmp_path):
    out, _ = expression()
    with pytest.raises(TypeError, match=r"explore\(\) draws a Value .* not str"):
        explore("tanh(a*b + c)", tmp_path / "x.html")
    with pytest.raises(ValueError, match=r"'x.svg' needs a \.html suffix"):
        explore(out, tmp_path / "x.svg")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        explore(out, tmp_path / "no" / "x.html")
    with pytest.raises(TypeError, match="file path"):
        explore(out, 42)
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        explore(out, tmp_path / "x.html", max_nodes=0)
    assert not list(tmp_path.iterdir())


def test_max_nodes_keeps_the_steps_of_the_drawn_nodes():
    v = Value(0.5, label="x")
    for _ in range(30):
        v = (v * 1.01 + 0.1).tanh()
    data = page_data(explorer_html(v, max_nodes=8))
    backward = [e for e in data["entries"] if e["kind"] == "backward"]
    assert 0 < len(backward) < 3 * 30
    drawn = set(data["initial"])
    assert all(k.removesuffix("_op") in drawn for e in data["entries"] for k in e["visit"])


def test_graph_command_writes_the_page(tmp_path, capsys):
    page = tmp_path / "expr.html"
    code, out, err = run_graph(["tanh(a*b + c)", "a=2", "b=-3", "c=10", "--html", str(page)], capsys)
    assert code == 0, err
    assert out.endswith(f"wrote {page}\n") and "d(result)/dc = 0.00134095" in out
    assert not (tmp_path / "graph.svg").exists()  # --html alone writes only the page
    assert "<code>tanh(a*b + c)</code>" in page.read_text(encoding="utf-8")
    both = tmp_path / "mlp.html"
    code, out, err = run_graph(["--mlp", "2,3,1", "--collapse", "--html", str(both), "--out",
                                str(tmp_path / "mlp.dot")], capsys)
    assert code == 0, err
    assert f"wrote {both}" in out and (tmp_path / "mlp.dot").exists()
    groups = {e["title"].split(": ", 1)[1] for e in page_data(both.read_text(encoding="utf-8"))["entries"]
              if e["kind"] == "forward"}
    assert {"L0.n0", "L0.n1", "L0.n2", "L1.n0"} <= groups


@pytest.mark.parametrize("argv, pattern", [
    (["--html", "x.txt"], r"--html x\.txt: the explorer page is HTML; use a \.html suffix"),
    (["--html", "/no/such/folder/x.html"], "the folder /no/such/folder does not exist"),
])
def test_graph_command_html_errors(argv, pattern, capsys):
    code, _, err = run_graph(["tanh(a)", "a=1", *argv], capsys)
    assert code == 2
    assert re.search(pattern, err), err


def test_a_deep_graph_gets_a_page_without_recursion():
    """Regression: naming the nodes of a long unlabelled chain recursed once per node (RecursionError past
    about a thousand); the names are built inputs first now."""
    v = Value(0.5, label="x")
    for _ in range(1500):
        v = (v * 1.001 + 0.1).tanh()
    data = page_data(explorer_html(v, max_nodes=12))
    backward = [e for e in data["entries"] if e["kind"] == "backward"]
    assert backward and backward[0]["title"].startswith("Backward step 1 of ") and "node " in backward[0]["title"]
    assert data["entries"][-1]["kind"] == "done"
