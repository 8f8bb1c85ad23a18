"""Collapsing an MLP by layer (``by="layer"``, ``graph --collapse layer``): the grouping, the pictures, the steps.

The page in a real browser is tested in tests/test_explorer_browser.py.
"""

from __future__ import annotations

import math
import re
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_draw import needs_dot, run_graph
from test_explorer import page_data

from microgradx import Value, get_registry, topological_order, zero_grad
from microgradx.draw import build_model_graph, explorer_html, format_number, to_dot, to_svg
from microgradx.draw.picture import Picture
from microgradx.draw.steps import final_grads
from microgradx.draw.timeline import Timeline

SVG = "{http://www.w3.org/2000/svg}"
PRECISION = 5  # the explorer page's default


def mlp_loss(fused=False, sizes=(3, 1), x=(0.5, -1.5), target=0.25, seed=1):
    """An MLP(2, sizes) (tanh hidden layers, a linear last layer) and its squared error on one example."""
    MLP = get_registry().get("layers", "MLP")
    model = MLP(2, list(sizes), activation="tanh", seed=seed, fused=fused)
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    out = model(xs)
    loss = sum(((o - target) ** 2 for o in out), Value(0.0))
    loss.label = "loss"
    return model, xs, out, loss


def groups(picture: Picture) -> dict:
    """group name -> its node, for the collapsed nodes drawn."""
    return {n.group: n for n in picture.shown(None) if n.group is not None}


# -- the grouping --------------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [False, True])
def test_each_layer_is_one_node_with_a_row_per_neuron(fused):
    model, xs, out, loss = mlp_loss(fused)
    picture = Picture([loss], model, by="layer")
    found = groups(picture)
    assert set(found) == {"L0", "L1"}  # the scopes the MLP gave its layers
    first, last = found["L0"], found["L1"]
    # layer 0: three weighted sums (4 ops fine-grained, 1 fused dot each) and their three tanh
    assert (first.units, first.n_ops, first.n_params) == (3, 3 * (4 if not fused else 1) + 3, 9)
    assert (last.units, last.n_ops, last.n_params) == (1, 6 if not fused else 1, 4)  # linear: no activation
    hidden = [h for _, h in first.outputs]
    assert [name for name, _ in first.outputs] == ["L0.n0", "L0.n1", "L0.n2"]
    assert [h.op.name for h in hidden] == ["tanh"] * 3
    for neuron, h in zip(model.layers[0].neurons, hidden):  # each row is that neuron's output
        pre = neuron.b.data + sum(w.data * x.data for w, x in zip(neuron.w, xs))
        assert h.data == pytest.approx(math.tanh(pre), rel=1e-12)
    assert last.outputs == [("L1.n0", out[0])]
    # every parameter is inside its layer; the drawn graph is x -> layer 0 -> layer 1 -> the loss
    assert picture.hidden == {id(p) for p in model.parameters()}
    assert [(s.value, port) for s, port in picture.links(first)] == [(xs[0], None), (xs[1], None)]
    assert [(s, port) for s, port in picture.links(last)] == [(first, 0), (first, 1), (first, 2)]
    assert picture.inputs(last) == [first]
    assert first.port(hidden[2]) == 2 and first.slot(hidden[2]) == f"{first.ident}:2"
    assert first.slot(first.outputs[0][1].parents[0]) is None  # a pre-activation inside: no row
    drawn = [n for n in picture.shown(None) if n.group is None and n.value.op is None]
    assert {n.value.label for n in drawn if n.value.label} == {"x0", "x1"}  # no weight is drawn


def test_a_layer_of_your_own_collapses_by_the_names_it_gives():
    """micrograd's shape, plain Values: a layer that names what it builds (each unit's output, its
    parameters inside) collapses by layer as the bundled one does."""
    x = [Value(1.0, label="x0"), Value(2.0, label="x1")]
    units = []
    for k, (w, b) in enumerate([([0.5, -0.25], 0.1), ([1.0, 2.0], -0.5)]):
        ws = [Value(v, label=f"dense.u{k}.w{i}") for i, v in enumerate(w)]
        pre = sum((wi * xi for wi, xi in zip(ws, x)), Value(b, label=f"dense.u{k}.b"))
        units.append(pre.relu() if k == 0 else pre.exp())
        units[-1].label = f"dense.u{k}"
    out = units[0] * units[1]
    picture = Picture([out], ["dense.u0", "dense.u1"], by="layer")
    node = groups(picture)["dense"]
    assert [(name, v.op.name) for name, v in node.outputs] == [("dense.u0", "relu"), ("dense.u1", "exp")]
    assert (node.units, node.n_ops, node.n_params) == (2, 10, 6)
    assert picture.inputs(node) == [picture.node(v) for v in x]


def test_a_pre_activation_used_elsewhere_is_a_row_of_its_own():
    model, _, _, loss = mlp_loss(sizes=(2, 1))
    pre = groups(Picture([loss], model, by="layer"))["L0"].outputs[1][1].parents[0]  # L0.n1's, in its tanh
    total = loss + 0.1 * pre
    node = groups(Picture([total], model, by="layer"))["L0"]
    assert [name for name, _ in node.outputs] == ["L0.n0", "L0.n1", "L0.n1.add"]  # named inside its scope
    assert node.outputs[2][1] is pre


def test_a_layer_applied_twice_is_two_uses():
    MLP = get_registry().get("layers", "MLP")
    model = MLP(2, [2, 1], activation="tanh", seed=0, fused=True)
    (a,) = model([0.5, -1.0])
    (b,) = model([1.5, 0.25])
    loss = (a - b) ** 2
    found = groups(Picture([loss], model, by="layer"))
    assert set(found) == {"L0", "L0 (use 2)", "L1", "L1 (use 2)"}
    assert all(len(n.outputs) == (2 if n.group.startswith("L0") else 1) for n in found.values())
    assert [name for name, _ in found["L0 (use 2)"].outputs] == ["L0.n0", "L0.n1"]
    assert {n.value for n in found.values() if n.group.startswith("L1")} == {a, b}


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"by": "layers"}, ValueError, r"by must be one of 'neuron', 'layer', got 'layers'"),
    ({"by": None}, ValueError, "by must be one of"),
    ({"collapse": None, "by": "layer"}, ValueError, r"pass the model too, collapse=model"),
    ({"collapse": {"g": []}, "by": "layer"}, TypeError, r"collapse= takes a model whose layers name .* not dict"),
    ({"collapse": "neuron", "by": "layer"}, TypeError, "not str"),
    ({"collapse": ["L0.n0", "h1"], "by": "layer"}, ValueError, r"by='layer' collapses the layers named in the scopes "
                                                               r"\('L0' in 'L0.n1'\); 'h1' names no layer"),
])
def test_bad_by_values_are_named(kwargs, error, pattern):
    model, _, _, loss = mlp_loss()
    options = {"collapse": model, **kwargs}
    for draw in (to_dot, to_svg, explorer_html):
        with pytest.raises(error, match=pattern):
            draw(loss, **options)
    Neuron = get_registry().get("layers", "Neuron")
    with pytest.raises(ValueError, match="the parameters of Neuron carry no scope names"):
        to_dot(loss, collapse=Neuron(2), by="layer")  # a lone neuron names nothing
    to_dot(loss, collapse=Neuron(2, scope="cell"), by="neuron")  # named: fine (nothing here is called cell)


# -- the pictures --------------------------------------------------------------------------------


def test_the_dot_record_has_a_row_per_output_and_edges_leave_from_their_row():
    model, _, _, loss = mlp_loss()
    loss.backward()
    text = to_dot(loss, collapse=model, by="layer")
    first = re.search(r'^  (n\d+) \[label="\{ L0 \| 3 neurons, 15 ops, 9 params \} \| (.*?)", shape=record',
                      text, re.M)
    assert first, text
    rows = re.findall(r"\{ (L0\.n\d) \| data (\S+) \| <o(\d)> grad (\S+) \}", first.group(2))
    assert [(name, port) for name, _, port, _ in rows] == [(f"L0.n{k}", str(k)) for k in range(3)]
    tanh = [h for _, h in groups(Picture([loss], model, by="layer"))["L0"].outputs]
    assert [h.op.name for h in tanh] == ["tanh"] * 3
    assert [(d, g) for _, d, _, g in rows] == [(format_number(h.data), format_number(h.grad)) for h in tanh]
    key = first.group(1)
    assert len(re.findall(rf"^  {key}:o[012]:e -> n\d+;$", text, re.M)) == 3  # into layer 1, one per output
    assert "L0.n0.w0" not in text and "tanh" not in text
    for rankdir, side in (("RL", "w"), ("TB", "s"), ("BT", "n")):
        assert f"{key}:o2:{side} -> " in to_dot(loss, collapse=model, by="layer", rankdir=rankdir)
    assert "<o0> L0.n0" in to_dot(loss, collapse=model, by="layer", rankdir="BT")  # the port on the top field


@needs_dot
@pytest.mark.parametrize("rankdir", ["LR", "TB", "BT"])
def test_graphviz_draws_the_layer_records(rankdir, tmp_path):
    model, _, _, loss = mlp_loss()
    loss.backward()
    dot = tmp_path / "mlp.dot"
    dot.write_text(to_dot(loss, collapse=model, by="layer", rankdir=rankdir), encoding="utf-8")
    proc = subprocess.run(["dot", "-Tsvg", str(dot)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    texts = {t.text for t in ET.fromstring(proc.stdout).iter(f"{SVG}text")}
    assert {"L0", "L1", "L0.n0", "L0.n2", "L1.n0"} <= texts


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_the_builtin_svg_draws_a_row_per_output(rankdir):
    model, _, out, loss = mlp_loss()
    loss.backward()
    root = ET.fromstring(to_svg(loss, collapse=model, by="layer", rankdir=rankdir))
    nodes = {g.get("data-node"): g for g in root.iter(f"{SVG}g") if "group" in (g.get("class") or "").split()}
    assert len(nodes) == 2
    rows = {g.get("data-node"): ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
            for g in root.iter(f"{SVG}g") if g.get("class") == "port"}
    last = next(k for k, g in nodes.items() if "L1" in "".join(g.itertext()))
    assert rows[f"{last}:0"] == ["L1.n0", f"data {format_number(out[0].data)}",
                                 f"grad {format_number(out[0].grad)}"]
    first = next(k for k in nodes if k != last)
    assert sorted(k for k in rows if k.startswith(first + ":")) == [f"{first}:{k}" for k in range(3)]
    edges = [(p.get("data-src"), p.get("data-port"), p.get("data-dst")) for p in root.iter(f"{SVG}path")
             if p.get("class") == "edge"]
    assert sorted(port for src, port, dst in edges if src == first) == ["0", "1", "2"]
    assert all(dst == last for src, _, dst in edges if src == first)


# -- the steps -----------------------------------------------------------------------------------


def timeline(roots, model, max_nodes=None):
    picture = Picture(roots, model, by="layer")
    return picture, Timeline(picture, picture.shown(max_nodes), PRECISION)


@pytest.mark.parametrize("fused", [False, True])
def test_a_layer_is_one_backward_step_with_its_inputs_upstreams_and_parameters(fused):
    model, xs, _, loss = mlp_loss(fused)
    picture, line = timeline([loss], model)
    backward = [e for e in line.entries if e["kind"] == "backward"]
    assert [e["title"].split(": ", 1)[1] for e in backward[-2:]] == ["L1", "L0"]
    assert len(backward) == 2 + 2 + 1  # the add of Value(0.0), pow, sub; then the two layers
    first = groups(picture)["L0"]
    step = backward[-1]
    assert step["visit"] == [first.ident] and step["inputs"] == [picture.node(x).ident for x in xs]
    by_name = {t["name"]: t for t in step["terms"]}
    assert list(by_name)[:2] == ["x0", "x1"]  # the inputs first, then each neuron's parameters
    assert set(by_name) == {"x0", "x1", *(p.label for p in model.layers[0].parameters())}
    loss.backward()
    hidden = [h for _, h in first.outputs]
    ups = [h.grad for h in hidden]  # what arrives at each output from above, after backward(): final
    assert step["text"].startswith("upstream grads dloss/d(each output): " + ", ".join(
        f"L0.n{k} = {format_number(u, PRECISION)}" for k, u in enumerate(ups)))
    # x0 feeds every neuron: the sum over the outputs of upstream x d(output)/dx0
    x0 = by_name["x0"]
    neurons = model.layers[0].neurons
    locals_ = [(1 - h.data ** 2) * n.w[0].data for h, n in zip(hidden, neurons)]
    assert [float(v) for v in x0["local"].strip("[]").split(", ")] == pytest.approx(locals_, rel=1e-4)
    assert float(x0["product"]) == pytest.approx(sum(u * j for u, j in zip(ups, locals_)), rel=1e-4)
    assert float(x0["product"]) == pytest.approx(xs[0].grad, rel=1e-4)
    assert x0["product_text"].count("\u00d7") == 3
    # a parameter belongs to one neuron: its upstream and d(neuron's output)/dw alone
    w = neurons[1].w[1]
    term = by_name[w.label]
    assert term["local_text"].startswith(f"\u2202L0.n1/\u2202{w.label} = ")
    assert float(term["upstream"]) == pytest.approx(ups[1], rel=1e-4)
    assert float(term["local"]) == pytest.approx((1 - hidden[1].data ** 2) * xs[1].data, rel=1e-4)
    assert float(term["after"]) == pytest.approx(w.grad, rel=1e-4)
    # the step before it, layer 1, set the grad of each row of layer 0
    assert [key for key, _, _ in backward[-2]["set"]] == [f"{first.ident}:{k}" for k in range(3)]


@pytest.mark.parametrize("case", ["one example", "lanes", "two outputs", "fused"])
def test_the_layer_steps_end_with_the_grads_backward_computes(case):
    if case == "lanes":
        MLP = get_registry().get("layers", "MLP")
        model = MLP(2, [3, 1], activation="tanh", seed=3, fused=False)
        (out,) = model(np.array([[0.5, -1.0], [1.5, 0.25], [-0.3, 0.8]]))
        loss = ((out - 0.5) ** 2).lane_mean()
    else:
        model, _, _, loss = mlp_loss(fused=case == "fused", sizes=(3, 2) if case == "two outputs" else (3, 1))
    picture, line = timeline([loss], model)
    nodes = topological_order(loss)
    replayed = final_grads(line.steps, [loss])
    texts = line.final()
    loss.backward()
    for v in nodes:
        if v.grad is None:  # data that takes no gradient (a model's input column): the replay skips it too
            assert id(v) not in replayed
            continue
        np.testing.assert_allclose(replayed.get(id(v), 0.0), v.grad, rtol=1e-12, atol=1e-15, err_msg=repr(v))
    shown = 0
    for node in picture.shown(None):
        for key, v in node.slots():  # what the page opens with: every row's and node's final grad
            assert texts[key] == (f"data {format_number_like(v.data)}", f"grad {format_number_like(v.grad)}"), key
            shown += 1
    assert shown >= 5
    zero_grad(nodes)


def format_number_like(x) -> str:
    from microgradx.draw import summarize

    return summarize(x, PRECISION)


def test_max_nodes_keeps_the_layer_steps_of_the_drawn_nodes():
    model, _, _, loss = mlp_loss(sizes=(4, 4, 1))
    data = page_data(explorer_html(loss, collapse=model, by="layer", max_nodes=7))
    titles = [e["title"] for e in data["entries"] if e["kind"] == "backward"]
    assert any(t.endswith(": L2") for t in titles) and not any(t.endswith(": L0") for t in titles)
    drawn = {k.split(":")[0] for k in data["initial"]}
    assert all(k.removesuffix("_op") in drawn for e in data["entries"] for k in e["visit"])
    assert all(s[0] in data["initial"] for e in data["entries"] for s in e["set"])


# -- the command line ----------------------------------------------------------------------------


def test_graph_command_collapses_by_layer(tmp_path, capsys):
    dot, page = tmp_path / "mlp.dot", tmp_path / "mlp.html"
    code, out, err = run_graph(["--mlp", "2,3,1", "--collapse", "layer", "--out", str(dot), "--html", str(page)],
                               capsys)
    assert code == 0, err
    text = dot.read_text(encoding="utf-8")
    assert "{ L0 | 3 neurons, 15 ops, 9 params }" in text and "{ L1 | 1 neuron, 6 ops, 4 params }" in text
    assert "L0.n0" in text and ":o2:e -> " in text
    steps = [e["title"].split(": ", 1)[1] for e in page_data(page.read_text(encoding="utf-8"))["entries"]
             if e["kind"] == "backward"]
    assert steps == ["L1", "L0"]  # the MLP's output is the root: two steps, one per layer
    _, outputs, inputs = build_model_graph("MLP", 2, [3, 1], activation="tanh", seed=0)
    outputs[0].backward()
    assert f"d(L1.n0)/dx0 = {format_number(inputs['x0'].grad, 6)}" in out  # the output, named by its neuron
    code, _, err = run_graph(["--mlp", "2,3,1", "--collapse", "--out", str(dot)], capsys)
    assert code == 0 and "{ L0.n2 |" in dot.read_text(encoding="utf-8") and "{ L0 |" not in dot.read_text()


def test_graph_command_collapse_errors(tmp_path, capsys):
    code, _, err = run_graph(["--neuron", "2", "--collapse", "layer", "--out", str(tmp_path / "x.dot")], capsys)
    assert code == 2 and "--collapse layer applies to --mlp" in err
    with pytest.raises(SystemExit) as exc:
        run_graph(["--mlp", "2,3,1", "--collapse", "layers"], capsys)
    assert exc.value.code == 2
    assert "invalid choice: 'layers'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
