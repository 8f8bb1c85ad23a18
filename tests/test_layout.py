"""The built-in layout and its SVG (no Graphviz): the same picture as the DOT text, laid out legibly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from test_draw import ODD_LABELS, parse_dot, records, tanh_expression

from microgradx import Value, get_registry, topological_order
from microgradx.draw import build_model_graph, format_number, to_dot, to_svg
from microgradx.draw.layout import scene, text_width
from microgradx.draw.picture import Picture

SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> tuple[dict, list]:
    """``({data-node: (classes, [texts], element)}, [(src, dst, dashed)])`` of a built-in SVG."""
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    nodes, edges = {}, []
    for g in root.iter(f"{SVG}g"):
        classes = (g.get("class") or "").split()
        if "node" in classes:
            nodes[g.get("data-node")] = (classes, ["".join(t.itertext()) for t in g.iter(f"{SVG}text")], g)
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "edge-label"]
    paths = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    for p in paths:
        edges.append((p.get("data-src"), p.get("data-dst"), p.get("stroke-dasharray") is not None))
    assert len(labels) <= len(paths)
    return nodes, edges


def test_the_svg_draws_what_the_dot_text_describes():
    out, values = tanh_expression()
    out.backward()
    dot_nodes, dot_edges = parse_dot(to_dot(out))
    svg_nodes, svg_edges = parse_svg(to_svg(out))
    assert set(svg_nodes) == set(dot_nodes)
    assert {(s, d) for s, d, *_ in svg_edges} == {(s, d) for s, d, _ in dot_edges}
    dot_fields = records(dot_nodes)
    for key, (classes, texts, _) in svg_nodes.items():
        if "op" in classes:
            assert texts == [dot_nodes[key]["label"]]
        else:
            assert texts == dot_fields[key]
    roots = [k for k, (classes, _, _) in svg_nodes.items() if "root" in classes]
    assert len(roots) == 1 and svg_nodes[roots[0]][1] == ["o", "data 0.9993", "grad 1"]
    rect = svg_nodes[roots[0]][2].find(f"{SVG}rect")
    assert float(rect.get("stroke-width")) > 1  # the root's outline is bold
    # a's record after backward: the gradient as the pictures format it
    a = next(t for _, t, _ in svg_nodes.values() if t[0] == "a")
    assert a == ["a", "data 2", f"grad {format_number(values[0].grad)}"] and a[2] == "grad -0.004023"


def test_the_layout_follows_the_data_left_to_right_without_overlaps():
    _, outputs, _ = build_model_graph("MLP", 2, [3, 1], activation="tanh", seed=0)
    outputs[0].backward()
    for rankdir in ("LR", "TB", "RL", "BT"):
        picture = Picture(outputs, None)
        sc = scene(picture, picture.shown(None), rankdir=rankdir)
        boxes = list(sc.boxes.values())
        assert len([b for b in boxes if b.kind == "value"]) == len(topological_order(outputs[0]))
        for e in sc.edges:  # every edge runs along the layout direction
            src, dst = sc.boxes[e.src], sc.boxes[e.dst]
            forward = {"LR": dst.x - src.x, "RL": src.x - dst.x, "TB": dst.y - src.y, "BT": src.y - dst.y}[rankdir]
            assert forward > 0, (rankdir, e.src, e.dst)
            assert e.points[0] != e.points[-1]
        for i, p in enumerate(boxes):  # no two boxes overlap
            for q in boxes[i + 1:]:
                apart = (abs(p.x - q.x) >= (p.width + q.width) / 2 - 0.01
                         or abs(p.y - q.y) >= (p.height + q.height) / 2 - 0.01)
                assert apart, (rankdir, p.key, q.key)
        for b in boxes:  # and all are inside the picture
            assert 0 <= b.x - b.width / 2 and b.x + b.width / 2 <= sc.width + 0.01
            assert 0 <= b.y - b.height / 2 and b.y + b.height / 2 <= sc.height + 0.01


def test_a_bias_sits_beside_the_op_that_adds_it():
    _, (out,), _ = build_model_graph("Neuron", 3, activation="tanh", seed=0)
    picture = Picture([out], None)
    sc = scene(picture, picture.shown(None))
    bias = next(b for b in sc.boxes.values() if b.fields[0] == ("label", "b"))
    user = next(e.dst for e in sc.edges if e.src == bias.key)
    assert sc.boxes[user].layer == bias.layer + 1  # not in the inputs' column, far to the left
    assert bias.layer > min(b.layer for b in sc.boxes.values())


def test_fields_are_sized_for_their_text_and_for_the_alternatives():
    out, _ = tanh_expression()
    picture = Picture([out], None)
    plain = scene(picture, picture.shown(None))
    key = next(k for k, b in plain.boxes.items() if b.fields[0] == ("label", "a"))
    wide = scene(picture, picture.shown(None), alternatives={key: {"grad": ["grad -0.0040228546"]}})
    assert wide.boxes[key].widths[2] > plain.boxes[key].widths[2] >= text_width("grad 0")
    assert text_width("mm") > text_width("ii") > 0


def test_collapsed_capped_numbered_and_odd_labels():
    MLP = get_registry().get("layers", "MLP")
    model = MLP(2, [3, 1], activation="tanh", seed=1, fused=False)
    (out,) = model([Value(0.5, label="x0"), Value(-1.5, label="x1")])
    out.backward()
    nodes, _ = parse_svg(to_svg(out, collapse=model, max_nodes=None))
    groups = sorted(t[0] for c, t, _ in nodes.values() if "group" in c)
    assert groups == ["L0.n0", "L0.n1", "L0.n2", "L1.n0"]
    assert all(t[3] == "5 ops, 3 params" for c, t, _ in nodes.values() if "group" in c and t[0] != "L1.n0")
    nodes, edges = parse_svg(to_svg(out, max_nodes=5))
    assert len([n for n in nodes.values() if "value" in n[0]]) == 5
    note = nodes["omitted"][1][0]
    assert note.startswith(f"{len(topological_order(out)) - 5} more values not shown (max_nodes=5)")
    assert any(dashed for s, _, dashed in edges if s == "omitted")
    x, y = Value(5.0, label="x"), Value(2.0, label="y")
    svg = to_svg(x / y)
    assert svg.count('class="edge-label"') == 2 and ">1</text>" in svg and ">2</text>" in svg
    vals = [Value(float(i), label=lab) for i, lab in enumerate([*ODD_LABELS, "bell\x07"])]
    total = vals[0]
    for v in vals[1:]:
        total = total + v
    nodes, _ = parse_svg(to_svg(total, max_nodes=None))  # parses: everything was escaped
    labels = {t[0] for _, t, _ in nodes.values()}
    assert set(ODD_LABELS) <= labels and "bell\\x07" in labels


def test_to_svg_names_bad_arguments():
    with pytest.raises(TypeError, match=r"to_svg\(\) draws a Value"):
        to_svg("tanh(a)")
    with pytest.raises(ValueError, match="rankdir must be one of"):
        to_svg(Value(1.0), rankdir="up")


def test_importing_the_package_and_the_drawing_modules_leaves_igraph_and_browsers_out():
    code = textwrap.dedent("""
        import sys
        import microgradx, microgradx.draw, microgradx.draw.page, microgradx.cli
        heavy = sorted(m for m in ("igraph", "playwright", "selenium") if m in sys.modules)
        assert not heavy, heavy
        microgradx.draw.to_svg(microgradx.Value(1.0))
        assert "igraph" in sys.modules and "playwright" not in sys.modules
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
