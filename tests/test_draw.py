"""Graph pictures: DOT text, SVG/PNG via Graphviz, the safe expression evaluator, `microgradx graph`."""

from __future__ import annotations

import argparse
import builtins
import math
import os
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from microgradx import Op, Value, get_registry, hookimpl, plugin_registered, topological_order
from microgradx.cli.graph import ExpressionError, add_graph_command, evaluate, parse_bindings
from microgradx.draw import (
    GraphvizNotFoundWarning,
    draw,
    find_dot,
    format_number,
    summarize,
    to_dot,
    to_svg,
)

needs_dot = pytest.mark.skipif(
    find_dot() is None,
    reason="Graphviz's `dot` program is not installed (apt-get install graphviz / brew install graphviz)",
)

# -- a small reader of the DOT text that to_dot writes -------------------------------------------

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(r"^\s*(\w+) \[(.*)\];$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$")


def _attrs(text: str) -> dict:
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
            for m in re.finditer(r"(\w+)=(?:" + _QUOTED + r'|([^,\s"]+))', text)}


def _unescape_record(field: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), field)


def _split_fields(label: str) -> list[str]:
    """Fields of a record label ``{ f1 | f2 }`` (split on unescaped bars), unescaped."""
    assert label.startswith("{ ") and label.endswith(" }"), label
    body = label[2:-2]
    fields, current, i = [], "", 0
    while i < len(body):
        if body[i] == "\\":
            current += body[i:i + 2]
            i += 2
            continue
        if body.startswith(" | ", i):
            fields.append(current)
            current, i = "", i + 3
            continue
        current += body[i]
        i += 1
    fields.append(current)
    return [_unescape_record(f) for f in fields]


def parse_dot(text: str) -> tuple[dict, list]:
    """``({node id: attrs}, [(src, dst, attrs)])`` of DOT text in to_dot's layout."""
    assert text.startswith("digraph microgradx {") and text.rstrip().endswith("}")
    nodes, edges = {}, []
    for line in text.splitlines()[1:-1]:
        if line.strip().startswith(("graph [", "node [", "edge [")):
            continue
        m = _EDGE.match(line)
        if m:
            edges.append((m.group(1), m.group(2), _attrs(m.group(3) or "")))
            continue
        m = _NODE.match(line)
        assert m, f"unexpected DOT line: {line!r}"
        nodes[m.group(1)] = _attrs(m.group(2))
    return nodes, edges


def records(nodes: dict) -> dict:
    """node id -> record fields, for the Value (record) nodes."""
    return {k: _split_fields(a["label"]) for k, a in nodes.items() if a.get("shape") == "record"}


def by_label(nodes: dict) -> dict:
    """first record field (the label) -> node id, for labelled Value nodes."""
    out = {}
    for k, fields in records(nodes).items():
        if not fields[0].startswith(("data ", "neuron ")):
            out[fields[0]] = k
    return out


def tanh_expression():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    o = d.tanh()
    o.label = "o"
    return o, [a, b, c, e, d, o]


# -- DOT text ------------------------------------------------------------------------------------


def test_dot_shows_each_labelled_values_data_and_grad_after_backward():
    out, values = tanh_expression()
    out.backward()
    assert all(v.grad != 0.0 for v in values)  # so a picture of zeros could not pass
    nodes, _ = parse_dot(to_dot(out))
    fields = records(nodes)
    ids = by_label(nodes)
    for v in values:
        assert fields[ids[v.label]] == [v.label, f"data {format_number(v.data)}", f"grad {format_number(v.grad)}"]
    # before backward the same graph shows zero gradients
    fresh, _ = tanh_expression()
    fields = records(parse_dot(to_dot(fresh))[0])
    assert {f[-1] for f in fields.values()} == {"grad 0"}


def test_op_nodes_and_edges_follow_the_data_flow():
    out, values = tanh_expression()
    out.backward()
    nodes, edges = parse_dot(to_dot(out))
    ids = by_label(nodes)
    edge_set = {(s, d) for s, d, _ in edges}
    expected = set()
    for v in values:
        if v.op is None:
            continue
        op_nodes = {d for s, d in edge_set if s in (ids[p.label] for p in v.parents)
                    and nodes[d].get("shape") == "ellipse" and (d, ids[v.label]) in edge_set}
        assert len(op_nodes) == 1, f"no single op node feeding {v.label}"
        (op_node,) = op_nodes
        assert nodes[op_node]["label"] == v.op.symbol  # "*", "+", "tanh": what micrograd's pictures show
        expected.add((op_node, ids[v.label]))
        expected.update((ids[p.label], op_node) for p in v.parents)
    assert edge_set == expected  # and no edge runs against the data flow
    # the root has a bold outline, the others not
    assert nodes[ids["o"]].get("penwidth") == "2"
    assert "penwidth" not in nodes[ids["a"]]
    # one record per Value, one ellipse per op application
    assert len(records(nodes)) == len(topological_order(out))
    assert sum(a.get("shape") == "ellipse" for a in nodes.values()) == sum(v.op is not None for v in values)


def test_inputs_of_non_commutative_ops_are_numbered():
    x, y = Value(5.0, label="x"), Value(2.0, label="y")
    for out in (x - y, x / y, x ** y):
        nodes, edges = parse_dot(to_dot(out))
        ids = by_label(nodes)
        numbered = {s: a.get("label") for s, d, a in edges if s in (ids["x"], ids["y"])}
        assert numbered == {ids["x"]: "1", ids["y"]: "2"}
    nodes, edges = parse_dot(to_dot(x * y))
    assert all("label" not in a for _, _, a in edges)


def test_lane_values_show_a_summary():
    data = np.array([0.5, -1.25, 2.0, 3.5, -4.0])
    x = Value(data, label="x")
    w = Value(0.75, label="w")
    y = (x * w).tanh()
    y.label = "y"
    y.lane_mean().backward()
    nodes, _ = parse_dot(to_dot(y.lane_mean()))  # a new root: same x, w
    fields = records(nodes)
    ids = by_label(nodes)
    first = ", ".join(format_number(v) for v in data[:3])
    assert fields[ids["x"]][1] == f"data 5 lanes, mean {format_number(data.mean())}: [{first}, ...]"
    assert format_number(data[3]) not in fields[ids["x"]][1]  # a summary, not every lane
    assert fields[ids["x"]][2] == f"grad {summarize(x.grad)}"
    assert fields[ids["x"]][2].startswith("grad 5 lanes, mean ")
    assert fields[ids["w"]][2] == f"grad {format_number(w.grad)}"  # a float parameter: summed over lanes
    assert summarize(np.array([1.0, 2.0])) == "2 lanes, mean 1.5: [1, 2]"


def test_max_nodes_keeps_the_values_nearest_the_root():
    v = Value(0.0, label="start")
    chain = [v]
    for i in range(1, 60):
        v = v + Value(float(i), label=f"k{i}")
        v.label = f"s{i}"
        chain.append(v)
    total = len(topological_order(v))
    nodes, edges = parse_dot(to_dot(v, max_nodes=10))
    fields = records(nodes)
    assert len(fields) == 10
    shown = set(by_label(nodes))
    assert "s59" in shown and "k59" in shown and "start" not in shown
    # breadth-first from the root: each kept sum is nearer the root than every dropped one
    kept_sums = sorted(int(s[1:]) for s in shown if s.startswith("s"))
    assert kept_sums == list(range(kept_sums[0], 60))
    note = nodes["omitted"]
    assert note["shape"] == "note"
    assert f"{total - 10} more values not shown (max_nodes=10)" in note["label"]
    dashed = [d for s, d, a in edges if s == "omitted"]
    assert dashed and all(a.get("style") == "dashed" for s, d, a in edges if s == "omitted")
    assert all(nodes[d]["shape"] == "ellipse" for d in dashed)
    # every edge joins drawn nodes
    assert all(s in nodes and d in nodes for s, d, _ in edges)
    # no cap: everything, and no note
    nodes, _ = parse_dot(to_dot(v, max_nodes=None))
    assert len(records(nodes)) == total and "omitted" not in nodes


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_max_nodes_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        to_dot(Value(1.0), max_nodes=bad)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="not float"):
        to_dot(1.5)
    with pytest.raises(ValueError, match="rankdir must be one of"):
        to_dot(Value(1.0), rankdir="sideways")
    with pytest.raises(TypeError, match="collapse= takes a model"):
        to_dot(Value(1.0), collapse=42)


ODD_LABELS = ['a|b', "{x}", "<in>", 'say "hi"', "back\\slash", "two  spaces", " lead", "naïve ∂x", "trail\\"]


def test_odd_labels_are_escaped_in_dot_text():
    vals = [Value(float(i), label=lab) for i, lab in enumerate(ODD_LABELS)]
    out = vals[0]
    for v in vals[1:]:
        out = out + v
    text = to_dot(out)
    nodes, _ = parse_dot(text)  # every line still parses: no quote or bar escaped the label
    labels = {f[0] for f in records(nodes).values()}
    assert set(ODD_LABELS) <= labels
    assert len(records(nodes)) == len(topological_order(out))
    # no stray bar split a field: label, data, grad (the unlabelled sums: data, grad)
    assert all(len(f) == (2 if f[0].startswith("data ") else 3) for f in records(nodes).values())
    # a control character is shown as text, never written raw
    text = to_dot(Value(1.0, label="bell\x07"))
    assert "\x07" not in text and "bell\\\\x07" in text


@needs_dot
def test_odd_labels_render_verbatim_in_svg(tmp_path):
    vals = [Value(float(i), label=lab) for i, lab in enumerate(ODD_LABELS)]
    out = vals[0]
    for v in vals[1:]:
        out = out + v
    path = draw(out, tmp_path / "odd.svg", max_nodes=None)
    texts = _svg_node_texts(path)
    flat = {t.replace("\xa0", " ") for group in texts.values() for t in group}
    for lab in ODD_LABELS:
        assert lab in flat or lab.strip() in flat, f"{lab!r} not drawn verbatim; got {sorted(flat)}"


# -- collapsing neurons --------------------------------------------------------------------------


def _mlp(fused: bool):
    MLP = get_registry().get("layers", "MLP")
    model = MLP(2, [3, 1], activation="tanh", seed=1, fused=fused)
    xs = [Value(0.5, label="x0"), Value(-1.5, label="x1")]
    (out,) = model(xs)
    out.backward()
    return model, xs, out


@pytest.mark.parametrize("fused", [False, True])
def test_collapse_draws_each_neuron_as_one_node_named_by_its_scope(fused):
    model, xs, out = _mlp(fused)
    assert out.label == "L1.n0" and model.layers[0].neurons[2].b.label == "L0.n2.b"  # what the layers name
    nodes, edges = parse_dot(to_dot(out, collapse=model, max_nodes=None))
    fields = records(nodes)
    groups = {f[0]: (k, f) for k, f in fields.items() if len(f) == 4}  # label | data | grad | count
    assert set(groups) == {"L0.n0", "L0.n1", "L0.n2", "L1.n0"}
    # each neuron's node shows its output, tanh(b + w.x), computed here from the parameters
    x = np.array([v.data for v in xs])
    hidden = []
    for j, neuron in enumerate(model.layers[0].neurons):
        hidden.append(math.tanh(neuron.b.data + sum(w.data * xi for w, xi in zip(neuron.w, x))))
        k, f = groups[f"L0.n{j}"]
        assert f[1] == f"data {format_number(hidden[-1])}"
        assert f[3] == ("5 ops, 3 params" if not fused else "2 ops, 3 params")  # its weighted sum and its tanh
        assert {s for s, d, _ in edges if d == k} == {by_label(nodes)["x0"], by_label(nodes)["x1"]}
    last = model.layers[1].neurons[0]
    pre = last.b.data + sum(w.data * h for w, h in zip(last.w, hidden))
    assert groups["L1.n0"][1][1:3] == [f"data {format_number(pre)}", f"grad {format_number(out.grad)}"]
    assert {s for s, d, _ in edges if d == groups["L1.n0"][0]} == {groups[f"L0.n{j}"][0] for j in range(3)}
    # the parameters are inside their neurons, the activations too: nothing else is drawn
    assert len(nodes) == 2 + 4 and not [a for a in nodes.values() if a.get("shape") == "ellipse"]
    # uncollapsed, the same graph draws every weight
    labels = by_label(parse_dot(to_dot(out, max_nodes=None))[0])
    assert sum(re.fullmatch(r"L\d\.n\d\.[wb]\d?", label) is not None for label in labels) == 13
    # the scope names themselves collapse the same way
    assert to_dot(out, collapse=["L0.n0", "L0.n1", "L0.n2", "L1.n0"], max_nodes=None) == to_dot(
        out, collapse=model, max_nodes=None)


def test_collapse_by_scope_names_of_your_own_and_a_scope_used_twice():
    """Any code collapses as the layers do when it names what it builds: the Value it returns, and its
    parameters inside the name. Its inputs stay outside, even unlabelled ones; a use twice is two nodes."""
    w1, w2, b = Value(0.5, label="unit.w1"), Value(-0.25, label="unit.w2"), Value(0.1, label="unit.b")
    x1, x2 = Value(1.0, label="x1"), Value(2.0, label="x2")

    def unit(a, c):
        out = (b + w1 * a + w2 * c).relu()
        out.label = "unit"
        return out

    first, second = unit(x1, x2 * 3.0), unit(x2, x1)  # x2 * 3.0: an unlabelled input, not the unit's
    out = first + second
    out.backward()
    nodes, edges = parse_dot(to_dot(out, collapse=["unit"], max_nodes=None))
    fields = records(nodes)
    groups = {f[0]: (k, f) for k, f in fields.items() if len(f) == 4}
    assert sorted(groups) == ["unit", "unit (use 2)"]
    visited_first = next(v for v in reversed(topological_order(out)) if v.label == "unit")  # backward's order
    assert groups["unit"][1][1:] == [f"data {format_number(visited_first.data)}",
                                     f"grad {format_number(visited_first.grad)}", "5 ops, 3 params"]
    assert "unit.w1" not in by_label(nodes)  # the parameters are drawn inside (only the units use them)
    assert sum(a.get("label") == "*" for a in nodes.values()) == 1  # x2 * 3.0 stays outside
    penalty = out + 0.01 * (w1 * w1)  # w1 used outside the units too: drawn, with an edge into each use
    nodes, edges = parse_dot(to_dot(penalty, collapse=["unit"], max_nodes=None))
    w1_node = by_label(nodes)["unit.w1"]
    into = {d for s, d, _ in edges if s == w1_node}
    assert {records(nodes)[d][0] for d in into if d in records(nodes)} == {"unit", "unit (use 2)"}
    for bad, error, pattern in [({"unit": [w1]}, TypeError, "collapse= takes a model .* not dict"),
                                ([], TypeError, "not list"), (Value(1.0), TypeError, "not Value"),
                                (get_registry().get("layers", "Neuron")(2), ValueError, "Neuron carry no scope names")]:
        with pytest.raises(error, match=pattern):
            to_dot(out, collapse=bad)


# -- files ---------------------------------------------------------------------------------------


def _svg_node_texts(path) -> dict:
    """SVG node title -> the texts drawn in that node."""
    root = ET.parse(path).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    out = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") == "node":
            title = g.find("s:title", ns).text
            out[title] = ["".join(t.itertext()).strip() for t in g.findall(".//s:text", ns)]
    return out


def builtin_texts(path) -> dict:
    """The built-in SVG's records: first field (the label, or "data ...") -> every field's text, in order."""
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    out = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        classes = (g.get("class") or "").split()
        if "node" in classes and ("value" in classes or "group" in classes):
            texts = ["".join(t.itertext()) for t in g.iter("{http://www.w3.org/2000/svg}text")]
            out[texts[0]] = texts
    return out


@needs_dot
def test_svg_is_written_and_contains_the_labels(tmp_path):
    out, values = tanh_expression()
    out.backward()
    path = draw(out, tmp_path / "expr.svg")
    assert path == tmp_path / "expr.svg" and (tmp_path / "expr.dot").exists()
    texts = {t for group in _svg_node_texts(path).values() for t in group}
    for v in values:
        assert v.label in texts
        assert f"grad {format_number(v.grad)}" in texts
    assert {"*", "+", "tanh"} <= texts


@needs_dot
def test_png_is_written_and_not_blank(tmp_path):
    out, _ = tanh_expression()
    out.backward()
    path = draw(out, tmp_path / "expr.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 2000
    image = pytest.importorskip("matplotlib.image")
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 20 and pixels.shape[1] > 100
    assert float(np.std(pixels[..., :3])) > 0.05  # text and lines, not a blank canvas


def test_without_dot_an_svg_comes_from_the_builtin_layout(tmp_path, monkeypatch, recwarn):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_dot() is None
    out, values = tanh_expression()
    out.backward()
    path = draw(out, tmp_path / "expr.svg")
    assert path == tmp_path / "expr.svg"
    assert not [w for w in recwarn if issubclass(w.category, GraphvizNotFoundWarning)]
    assert path.read_text(encoding="utf-8") == to_svg(out)  # the built-in layout's picture
    assert (tmp_path / "expr.dot").read_text(encoding="utf-8") == to_dot(out)
    texts = builtin_texts(path)
    for v in values:
        assert texts[v.label] == [v.label, f"data {format_number(v.data)}", f"grad {format_number(v.grad)}"]


def test_without_dot_a_png_becomes_an_svg_and_says_how_to_install_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out, _ = tanh_expression()
    with pytest.warns(GraphvizNotFoundWarning) as caught:
        path = draw(out, tmp_path / "expr.png")
    message = str(caught[0].message)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "expr.png was not written" in message
    assert path == tmp_path / "expr.svg" and "<svg" in path.read_text(encoding="utf-8")
    assert not (tmp_path / "expr.png").exists()
    with pytest.raises(RuntimeError, match="engine='graphviz' needs Graphviz's `dot`"):
        draw(out, tmp_path / "x.svg", engine="graphviz")
    with pytest.raises(ValueError, match="writes SVG only, not PNG"):
        draw(out, tmp_path / "x.png", engine="builtin")
    with pytest.raises(ValueError, match="engine must be one of"):
        draw(out, tmp_path / "x.svg", engine="neato")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_picture_files_get_the_umask_mode_not_0600(tmp_path, umask):
    out, _ = tanh_expression()
    old = os.umask(umask)
    try:
        paths = [draw(out, tmp_path / "a.svg", engine="builtin"), tmp_path / "a.dot"]
        if find_dot() is not None:
            paths.append(draw(out, tmp_path / "b.png", engine="graphviz"))
    finally:
        os.umask(old)
    for path in paths:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name
    assert not list(tmp_path.glob(".*.tmp"))


def test_dot_suffix_writes_only_the_dot_text(tmp_path, monkeypatch, recwarn):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no Graphviz needed, and no warning
    out, _ = tanh_expression()
    path = draw(out, tmp_path / "expr.dot", max_nodes=3)
    assert path.read_text(encoding="utf-8") == to_dot(out, max_nodes=3)
    assert not [w for w in recwarn if issubclass(w.category, GraphvizNotFoundWarning)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expr.dot"]  # no temporary files left


def test_draw_format_errors(tmp_path):
    out, _ = tanh_expression()
    with pytest.raises(ValueError, match=r"cannot tell the picture format from 'x\.jpg'"):
        draw(out, tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="contradicts the file name"):
        draw(out, tmp_path / "x.svg", format="png")
    with pytest.raises(ValueError, match="format must be one of"):
        draw(out, tmp_path / "x", format="bmp")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        draw(out, tmp_path / "no" / "such" / "x.dot")


def _fake_dot(tmp_path, monkeypatch, script: str) -> None:
    """Put a fake `dot` program first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "dot"
    fake.write_text("#!/bin/sh\n" + script + "\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))


@pytest.mark.skipif(os.name != "posix", reason="the fake dot program is a POSIX shell script")
def test_a_failing_or_hanging_dot_is_reported(tmp_path, monkeypatch):
    out, _ = tanh_expression()
    _fake_dot(tmp_path, monkeypatch, 'echo "Error: syntax error in line 3" >&2; exit 3')
    with pytest.raises(RuntimeError, match=r"dot failed \(3\) drawing .*syntax error in line 3"):
        draw(out, tmp_path / "x.svg")
    monkeypatch.undo()
    (tmp_path / "hang").mkdir()
    sleep = shutil.which("sleep") or "/bin/sleep"
    _fake_dot(tmp_path / "hang", monkeypatch, f"exec {sleep} 10")
    with pytest.raises(RuntimeError, match=r"more than 0.5 s .*max_nodes="):
        draw(out, tmp_path / "y.svg", timeout=0.5)
    assert not (tmp_path / "x.svg").exists() and not (tmp_path / "y.svg").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


@needs_dot
def test_no_suffix_means_svg(tmp_path):
    path = draw(Value(1.0, label="one"), tmp_path / "pic")
    assert path.name == "pic.svg"
    assert "one" in {t for g in _svg_node_texts(path).values() for t in g}


# -- the expression evaluator --------------------------------------------------------------------


def test_evaluate_builds_the_same_graph_as_python_code(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never be called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    out, inputs = evaluate("tanh(a*b + c) + a**2 / -b - relu(-c)", {"a": 2, "b": -3.0, "c": 10})
    out.backward()
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    ref = (a * b + c).tanh() + a ** 2 / -b - (-c).relu()
    ref.backward()
    assert out.data == ref.data
    assert [inputs[n].grad for n in "abc"] == [a.grad, b.grad, c.grad]
    assert {n: v.label for n, v in inputs.items()} == {"a": "a", "b": "b", "c": "c"}


def test_a_name_is_one_value_and_constants_fold_their_sign():
    out, inputs = evaluate("a*a - 3", {"a": 1.5})
    out.backward()
    assert inputs["a"].grad == pytest.approx(2 * 1.5)
    assert [v.data for v in topological_order(out) if v.op is None] in ([1.5, 3.0], [3.0, 1.5])


def test_evaluate_calls_third_party_ops():
    cube = Op(name="cube", forward=lambda x: x * x * x, backward=lambda g, out, x: (3 * g * x * x,))

    class Plugin:
        @hookimpl
        def microgradx_register_ops(self, register):
            register(cube)

    with plugin_registered(Plugin(), name="test-cube"):
        out, inputs = evaluate("cube(x)", {"x": 2.0})
        out.backward()
        assert (out.data, inputs["x"].grad) == (8.0, 12.0)
    with pytest.raises(ExpressionError, match="no op named 'cube'"):
        evaluate("cube(x)", {"x": 2.0})


def test_evaluate_with_lanes():
    out, inputs = evaluate("x * w", parse_bindings(["x=1,2,3", "w=0.5"]))
    out.backward(np.ones_like(out.data))
    assert out.data.tolist() == [0.5, 1.0, 1.5]
    assert inputs["w"].grad == pytest.approx(6.0)


@pytest.mark.parametrize("text, construct", [
    ("__import__('os')", "dunder name '__import__'"),
    ("__builtins__", "dunder name '__builtins__'"),
    ("a.real", "attribute access at column 1"),
    ("tanh(a).__class__", "attribute access"),
    ("a.tanh()", "calling the result of attribute access"),
    ("lambda: 1", "lambda at column 1"),
    ("b + (lambda x: x)(a)", "calling the result of lambda"),
    ("[x for x in (a, b)]", "list comprehension"),
    ("sum(x for x in (a,))", "generator expression"),
    ("'abc'", "a string"),
    ("tanh('a')", "a string"),
    ("a[0]", "subscript"),
    ("tanh(x=a)", "keyword argument x= in the call of 'tanh' at column 6"),
    ("tanh(*a)", "starred argument"),
    ("a if b else c", "conditional expression"),
    ("a < b", "comparison"),
    ("a and b", "boolean operator"),
    ("a // b", "operator //"),
    ("a % b", "operator %"),
    ("not a", "operator not"),
    ("(a, b)", "tuple"),
    ("{a: b}", "dict display"),
    ("f'{a}'", "f-string"),
    ("True + a", "the constant True"),
    ("1j * a", "a complex number"),
])
def test_evaluate_refuses_everything_else(text, construct):
    with pytest.raises(ExpressionError) as info:
        evaluate(text, {"a": 1.0, "b": 2.0, "c": 3.0})
    message = str(info.value)
    assert construct in message
    assert "is not allowed" in message and "column" in message


@pytest.mark.parametrize("text, bindings, pattern", [
    ("a + zz", {"a": 1.0}, r"unknown name 'zz' at column 5 .*bound names: a"),
    ("tanh + 1", {}, r"unknown name 'tanh'.*registered op: call it, tanh\(x\)"),
    ("open(a)", {"a": 1.0}, r"cannot call 'open' at column 1.*no op named 'open' is registered"),
    ("log(a)", {"a": -1.0}, r"'log\(a\)' at column 1: op 'log': log of a non-positive number -1.0"),
    ("a / (b - b)", {"a": 1.0, "b": 2.0}, r"at column 1: op 'div': division by zero"),
    ("tanh(a, a)", {"a": 1.0}, r"op 'tanh' takes 1 input\(s\), got 2"),
    ("a +", {"a": 1.0}, r"cannot parse 'a \+'"),
    ("", {}, "empty"),
    ("(" * 300 + "a" + ")" * 300, {"a": 1.0}, r"nest|parse"),
    ("-" * 500 + "a", {"a": 1.0}, r"nested more than"),
    ("1" + "0" * 400 + " * a", {"a": 1.0}, "too large for a float"),
])
def test_evaluate_errors_name_the_problem(text, bindings, pattern):
    with pytest.raises(ExpressionError, match=pattern):
        evaluate(text, bindings)


@pytest.mark.parametrize("items, pattern", [
    (["a"], "not of the form NAME=VALUE"),
    (["a=x"], "'x' is not a number"),
    (["1a=2"], "'1a' is not a valid name"),
    (["lambda=2"], "'lambda' is not a valid name"),
    (["__class__=2"], "dunder names"),
    (["a=1", "a=2"], "given twice"),
])
def test_parse_bindings_errors(items, pattern):
    with pytest.raises(ExpressionError, match=pattern):
        parse_bindings(items)


# -- the `graph` command -------------------------------------------------------------------------


def run_graph(argv, capsys):
    parser = argparse.ArgumentParser(prog="microgradx")
    sub = parser.add_subparsers(dest="command", required=True)
    add_graph_command(sub)
    args = parser.parse_args(["graph", *argv])
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_graph_command_draws_an_expression(tmp_path, capsys):
    out_path = tmp_path / "expr.dot"
    code, out, err = run_graph(["tanh(a*b + c)", "a=2", "b=-3", "c=10", "--out", str(out_path)], capsys)
    assert code == 0, err
    ref, inputs = evaluate("tanh(a*b + c)", {"a": 2.0, "b": -3.0, "c": 10.0})
    ref.backward()
    assert f"result = {summarize(ref.data, 6)}" in out
    for name, v in inputs.items():
        assert f"d(result)/d{name} = {summarize(v.grad, 6)}" in out
        assert v.grad != 0.0
    nodes, _ = parse_dot(out_path.read_text(encoding="utf-8"))
    fields = records(nodes)
    for name, v in inputs.items():
        assert fields[by_label(nodes)[name]] == [name, f"data {format_number(v.data)}",
                                                 f"grad {format_number(v.grad)}"]


def test_graph_command_no_backward_and_max_nodes(tmp_path, capsys):
    out_path = tmp_path / "e.dot"
    code, out, _ = run_graph(["exp(a) * b + a", "a=1", "b=2", "--no-backward", "--max-nodes", "2",
                              "--out", str(out_path)], capsys)
    assert code == 0 and "d(result)" not in out
    nodes, _ = parse_dot(out_path.read_text(encoding="utf-8"))
    assert len(records(nodes)) == 2 and "omitted" in nodes
    assert {f[-1] for f in records(nodes).values()} == {"grad 0"}


@pytest.mark.parametrize("argv, pattern", [
    (["a.b", "a=1"], "attribute access"),
    (["a + 1"], "unknown name 'a'"),
    (["a", "a=x"], "not a number"),
    ([], "exactly one of an expression, --neuron NIN or --mlp SIZES"),
    (["a", "a=1", "--neuron", "2"], r"got EXPR and --neuron"),
    (["--mlp", "2"], "--mlp needs an input size"),
    (["--mlp", "2,x"], "--mlp takes comma-separated layer sizes"),
    (["--neuron", "0"], "at least 1 input"),
    (["--neuron", "2", "--activation", "nosuchop"], "no op named 'nosuchop'"),
    (["a", "a=1", "--collapse"], "--collapse applies to --neuron and --mlp"),
    (["a", "a=1", "--max-nodes", "0"], "--max-nodes must be at least 1"),
    (["a", "a=1", "--out", "x.jpg"], r"--out x\.jpg: the suffix picks the format"),
])
def test_graph_command_errors(argv, pattern, tmp_path, capsys):
    out = [] if "--out" in argv else ["--out", str(tmp_path / "x.dot")]
    code, _, err = run_graph([*argv, *out], capsys)
    assert code == 2
    assert re.search(pattern, err), err
    assert not (tmp_path / "x.dot").exists()


def test_graph_command_draws_a_fine_grained_neuron(tmp_path, capsys):
    out_path = tmp_path / "neuron.dot"
    code, out, err = run_graph(["--neuron", "3", "--activation", "tanh", "--out", str(out_path)], capsys)
    assert code == 0, err
    nodes, _ = parse_dot(out_path.read_text(encoding="utf-8"))
    labels = set(by_label(nodes))
    assert {"x0", "x1", "x2", "w0", "w1", "w2", "b", "out"} <= labels
    ops = [a["label"] for a in nodes.values() if a.get("shape") == "ellipse"]
    assert sorted(ops) == ["*"] * 3 + ["+"] * 3 + ["tanh"]  # fine-grained, not one `dot`
    assert re.search(r"^d\(out\)/dx2 = \S+$", out, re.M)


def test_graph_command_draws_a_tiny_mlp_collapsed_or_not(tmp_path, capsys):
    full, collapsed = tmp_path / "mlp.dot", tmp_path / "mlpc.dot"
    assert run_graph(["--mlp", "2,3,1", "--out", str(full)], capsys)[0] == 0
    assert run_graph(["--mlp", "2,3,1", "--collapse", "--out", str(collapsed)], capsys)[0] == 0
    nodes, _ = parse_dot(full.read_text(encoding="utf-8"))
    assert sum(a.get("label") == "*" for a in nodes.values()) == 2 * 3 + 3 * 1
    nodes, _ = parse_dot(collapsed.read_text(encoding="utf-8"))
    names = sorted(f[0] for f in records(nodes).values() if len(f) == 4)
    assert names == ["L0.n0", "L0.n1", "L0.n2", "L1.n0"]


def test_graph_command_without_dot_still_draws_an_svg(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, out, err = run_graph(["tanh(a)", "a=0.5", "--out", str(tmp_path / "expr.svg")], capsys)
    assert code == 0, err
    assert "built-in layout" in err and f"wrote {tmp_path / 'expr.svg'}" in out
    grad = format_number(1 - math.tanh(0.5) ** 2)
    assert builtin_texts(tmp_path / "expr.svg")["a"] == ["a", "data 0.5", f"grad {grad}"]
    assert f"result = {summarize(math.tanh(0.5), 6)}" in out
    code, out, err = run_graph(["tanh(a)", "a=0.5", "--out", str(tmp_path / "expr.png")], capsys)
    assert code == 1
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    assert (tmp_path / "expr.dot").exists() and not (tmp_path / "expr.png").exists()


@needs_dot
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_graph_command_renders_pictures(tmp_path, capsys, suffix):
    path = tmp_path / f"expr{suffix}"
    code, out, err = run_graph(["tanh(a*b + c)", "a=2", "b=-3", "c=10", "--out", str(path)], capsys)
    assert code == 0, err
    assert f"wrote {path}" in out
    if suffix == ".svg":
        texts = {t for g in _svg_node_texts(path).values() for t in g}
        assert {"a", "b", "c", "tanh"} <= texts
    else:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
