"""The explorer page in a real browser: Debian's Chromium, headless, driven by Playwright.

Nothing downloads a browser: Playwright starts the system's ``chromium`` (``.ci/run`` installs
Debian's package). Without it, or without the ``playwright`` package, these tests skip and say
what to install. One browser serves the whole module.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from microgradx import topological_order
from microgradx.cli.graph import evaluate
from microgradx.draw import backward_steps, build_model_graph, explore, summarize
from microgradx.draw.picture import Picture

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
PRECISION = 5  # explore()'s default

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's package (apt-get install chromium); "
                                                ".ci/run does"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason='Playwright for Python is not installed: pip install -e ".[test]"'),
]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (the system's, never a downloaded build)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """An explorer page open in the browser, recording console errors and every request it makes."""

    def __init__(self, browser, path: Path):
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1280, "height": 720})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.url)

    def field(self, key: str, field: str) -> str:
        """The text a node (or a layer's output row, ``n7:0``) shows in one field (``data`` or ``grad``)."""
        return self.page.text_content(f'g[data-node="{key}"] .field-{field}', timeout=5000)

    def marked(self, cls: str) -> list[str]:
        """The nodes highlighted with ``cls`` (visited, input, changed, pending), sorted."""
        return sorted(self.page.eval_on_selector_all(f"g.node.{cls}", "els => els.map(e => e.dataset.node)"))

    def step(self) -> int:
        return int(self.page.get_attribute("body", "data-step"))

    def key(self, name: str) -> None:
        self.page.keyboard.press(name)

    def assert_offline_and_clean(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"
        assert [u for u in self.requests if u != self.url and not u.startswith("data:")] == []
        self.page.close()


def number(text: str) -> float:
    """The number in a node's field text (``grad 0.001341`` -> 0.001341)."""
    return float(text.split()[-1])


def test_the_expression_page_steps_backward_node_by_node(browser, tmp_path):
    out, inputs = evaluate("tanh(a*b + c)", {"a": 2.0, "b": -3.0, "c": 10.0})
    path = explore(out, tmp_path / "expr.html", title="tanh(a*b + c)")
    page = Page(browser, path)
    picture = Picture([out], None)
    key = {name: picture.node(v).ident for name, v in inputs.items()}
    root = picture.node(out).ident

    # it opens at the start: only the leaves have data, every grad is 0
    assert page.step() == 0 and page.page.get_attribute("body", "data-phase") == "start"
    assert page.field(root, "data") == "data ?" and page.field(key["a"], "data") == "data 2"
    assert {page.field(k, "grad") for k in (*key.values(), root)} == {"grad 0"}
    assert root in page.marked("pending")
    page.key("ArrowRight")  # the arrow keys work at once: the first forward step
    assert page.step() == 1 and page.field(picture.node(out.parents[0].parents[0]).ident, "data") == "data -6"

    page.key("End")  # done: the numbers of the finished backward pass
    assert number(page.field(root, "data")) == pytest.approx(0.99933, abs=5e-6)  # tanh(4)
    assert number(page.field(key["c"], "grad")) == pytest.approx(0.0013409, abs=2e-7)  # dc
    assert number(page.field(key["a"], "grad")) == pytest.approx(-0.0040229, abs=1e-7)
    last = page.step()

    page.key("Home")
    assert page.step() == 0 and root in page.marked("pending")

    page.key("b")  # the seed of the backward pass
    assert page.field(root, "grad") == "grad 1" and page.field(key["a"], "grad") == "grad 0"
    assert page.marked("pending") == []

    # then one node at a time, as backward() visits them; the grads shown are those of that moment
    steps = backward_steps(out)
    shown = {id(v): picture.node(v).ident for v in topological_order(out)}
    grads = {k: "grad 0" for k in shown.values()}
    grads[root] = "grad 1"
    visited = []
    for i, step in enumerate(steps):
        page.key("ArrowRight")
        for t in step.terms:
            grads[shown[id(t.input)]] = f"grad {summarize(t.after, PRECISION)}"
        assert {k: page.field(k, "grad") for k in grads} == grads, f"backward step {i + 1}"
        visit = page.marked("visited")
        assert shown[id(step.value)] in visit and visit not in visited  # a new node each step
        visited.append(visit)
        assert page.marked("input") == sorted({shown[id(p)] for p in step.value.parents})
        assert set(page.marked("changed")) == {shown[id(t.input)] for t in step.terms}
    # the last step (the mul) wrote out the chain rule for a and b
    rows = page.page.eval_on_selector_all("#mgx-terms tr.term", "rows => rows.map(r => r.innerText)")
    assert len(rows) == 2 and "0.001341 \u00d7 -3" in rows[0] and "-0.0040229" in rows[0]
    assert "Backward step 3 of 3" in page.page.text_content("#mgx-title")
    assert page.field(key["c"], "grad") == "grad 0.001341" and page.field(key["b"], "grad") == "grad 0.0026819"

    page.key("ArrowLeft")  # and back: a's grad is not there yet
    assert page.field(key["a"], "grad") == "grad 0" and page.field(key["c"], "grad") == "grad 0.001341"
    assert page.marked("visited") == visited[-2]
    page.page.click("#mgx-next")  # the buttons step too
    assert page.field(key["a"], "grad") == "grad -0.0040229"
    page.key("End")
    assert page.step() == last

    page.page.screenshot(path=str(tmp_path / "expr.png"), full_page=True)
    assert (tmp_path / "expr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "expr.png").stat().st_size > 10_000
    page.assert_offline_and_clean()


def test_the_neuron_page_shows_its_numbers_and_steps(browser, tmp_path):
    _, (out,), inputs = build_model_graph("Neuron", 2, activation="tanh", seed=0)
    path = explore(out, tmp_path / "neuron.html")
    page = Page(browser, path)
    picture = Picture([out], None)
    root = picture.node(out).ident
    assert page.field(root, "data") == "data ?"  # the start
    page.key("End")
    assert page.field(root, "data") == f"data {summarize(out.data, PRECISION)}"
    steps = backward_steps(out)
    finals = {id(t.input): t.after for s in steps for t in s.terms}
    x0 = picture.node(inputs["x0"]).ident
    assert page.field(x0, "grad") == f"grad {summarize(finals[id(inputs['x0'])], PRECISION)}"
    assert page.marked("visited") == []  # "done" visits nothing
    seen = []
    for _ in steps:  # from the end back to the first backward step: the visited node changes every step
        page.key("ArrowLeft")
        seen.append(tuple(page.marked("visited")))
    assert len(set(seen)) == len(steps) == 5  # 2 mul, 2 add, tanh: micrograd's fine-grained neuron
    assert seen[-1] == (root, f"{root}_op") and page.page.text_content("#mgx-title").startswith("Backward step 1 of")
    assert page.field(x0, "grad") == "grad 0" and page.field(root, "grad") == "grad 1"
    page.page.screenshot(path=str(tmp_path / "neuron.png"))
    page.assert_offline_and_clean()


def test_the_collapsed_mlp_page_steps_a_neuron_at_a_time(browser, tmp_path):
    model, outputs, _ = build_model_graph("MLP", 2, [3, 1], activation="tanh", seed=0)
    path = explore(outputs[0], tmp_path / "mlp.html", collapse=model)
    page = Page(browser, path)
    groups = page.page.eval_on_selector_all("g.node.group .field-label", "els => els.map(e => e.textContent)")
    assert sorted(groups) == ["L0.n0", "L0.n1", "L0.n2", "L1.n0"]  # the names the MLP gave its neurons
    page.key("End")
    page.key("ArrowLeft")  # the last backward step: a first-layer neuron with its inputs and parameters
    assert page.page.text_content("#mgx-title").startswith("Backward step 4 of 4: L0.n")
    assert len(page.page.query_selector_all("#mgx-terms tr.term")) == 5  # x0, x1, w0, w1, b
    assert len(page.marked("input")) == 2  # x0 and x1 are drawn; the parameters are inside the neuron
    page.assert_offline_and_clean()


def test_the_mlp_page_collapsed_by_layer_steps_a_layer_at_a_time(browser, tmp_path):
    model, (out,), inputs = build_model_graph("MLP", 2, [3, 1], activation="tanh", seed=0)
    loss = (out - 0.5) ** 2
    loss.label = "loss"
    path = explore(loss, tmp_path / "layers.html", collapse=model, by="layer")
    page = Page(browser, path)
    picture = Picture([loss], model, by="layer")
    layers = {n.group: n for n in picture.shown(None) if n.group is not None}
    first, last = layers["L0"].ident, layers["L1"].ident
    x0 = picture.node(inputs["x0"]).ident
    titles = page.page.eval_on_selector_all("g.node.group .field-label", "els => els.map(e => e.textContent)")
    assert sorted(titles) == ["L0", "L1"]
    rows = page.page.eval_on_selector_all(f'g.node[data-node="{first}"] g.port .field-name',
                                          "els => els.map(e => e.textContent)")
    assert rows == ["L0.n0", "L0.n1", "L0.n2"]
    loss.backward()  # the page shows what backward() computes, at the end and step by step
    hidden = [h for _, h in layers["L0"].outputs]
    row = [f"{first}:{k}" for k in range(3)]
    page.key("End")
    assert [page.field(k, "grad") for k in row] == [f"grad {summarize(h.grad, PRECISION)}" for h in hidden]

    page.key("ArrowLeft")  # the last step: layer 0, visited as one node, its input x0 and x1 highlighted
    assert page.page.text_content("#mgx-title") == "Backward step 4 of 4: L0"
    assert page.marked("visited") == [first]
    assert page.marked("input") == sorted(picture.node(inputs[n]).ident for n in ("x0", "x1"))
    assert page.field(x0, "grad") == f"grad {summarize(inputs['x0'].grad, PRECISION)}"
    text = page.page.text_content("#mgx-text")
    assert text.startswith("upstream grads dloss/d(each output): L0.n0 = ")
    terms = page.page.eval_on_selector_all("#mgx-terms tr.term", "rows => rows.map(r => r.innerText)")
    assert len(terms) == 2 + 9 and terms[0].startswith("x0")  # x0, x1, then 3 x (b, w0, w1)
    assert terms[0].count("\u00d7") == 3  # the sum over the three neurons of upstream x local

    page.key("ArrowLeft")  # layer 1: it passes the grads to the rows of layer 0; x0 has none yet
    assert page.page.text_content("#mgx-title") == "Backward step 3 of 4: L1"
    assert page.marked("visited") == [last] and page.marked("input") == [first]
    assert page.field(x0, "grad") == "grad 0"
    assert [page.field(k, "grad") for k in row] == [f"grad {summarize(h.grad, PRECISION)}" for h in hidden]
    changed = page.page.eval_on_selector_all("g.port.changed", "els => els.map(e => e.dataset.node)")
    assert sorted(changed) == row
    assert len(page.page.query_selector_all("path.edge.active")) == 3  # one edge per row of layer 0

    page.key("ArrowLeft")  # before it: the rows of layer 0 hold no grad yet
    assert page.marked("visited") != [last]
    assert {page.field(k, "grad") for k in row} == {"grad 0"}
    page.key("Home")
    assert {page.field(k, "data") for k in row} == {"data ?"}
    page.page.screenshot(path=str(tmp_path / "layers.png"))
    page.assert_offline_and_clean()


def test_the_lectures_neuron_opens_at_the_start_fitted_to_the_window_with_every_node_named(browser, tmp_path):
    """The second lecture's neuron, o = (e - 1) / (e + 1) with e = exp(2n): wider than the window at actual size."""
    from microgradx import Value

    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1, x2w2 = x1 * w1, x2 * w2
    x1w1.label, x2w2.label = "x1*w1", "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    e = (2 * n).exp()
    o = (e - 1) / (e + 1)
    o.label = "o"
    page = Page(browser, explore(o, tmp_path / "neuron.html"))
    assert page.step() == 0 and page.field(Picture([o], None).node(o).ident, "data") == "data ?"
    width = page.page.eval_on_selector("#mgx-graph svg", "s => s.viewBox.baseVal.width")
    assert width > 1280  # at actual size it would not fit ...
    box = page.page.eval_on_selector("#mgx-graph svg", "s => s.getBoundingClientRect().toJSON()")
    assert box["left"] >= 0 and box["right"] <= 1280 and box["bottom"] <= 720  # ... fitted, it does
    zoom = float(page.page.get_attribute("body", "data-zoom"))
    assert zoom == pytest.approx(box["width"] / width, rel=1e-2) and zoom < 1
    labels = page.page.eval_on_selector_all("g.node.value .field-label", "els => els.map(e => e.textContent)")
    assert {"x1", "x2", "w1", "w2", "b", "n", "o", "x1*w1 + x2*w2"} <= set(labels)
    assert {"2 * n", "exp(2 * n)", "exp(2 * n) - 1", "exp(2 * n) + 1"} <= set(labels)  # the inner nodes
    unnamed = page.page.eval_on_selector_all("g.node.value:not(:has(.field-label)) .field-data",
                                             "els => els.map(e => e.textContent)")
    assert sorted(unnamed) == ["data 1", "data 1", "data 2"]  # only the constants, which their number names
    assert len(labels) == 14
    page.key("+")  # zoom in, then pan by dragging
    assert float(page.page.get_attribute("body", "data-zoom")) == pytest.approx(zoom * 1.25, rel=1e-2)
    page.page.mouse.move(900, 500)
    page.page.mouse.down()
    page.page.mouse.move(500, 500, steps=4)
    page.page.mouse.up()
    assert page.page.eval_on_selector("#mgx-graph", "g => g.scrollLeft") > 0
    page.key("0")
    assert page.page.get_attribute("body", "data-zoom") == "1.000"
    page.key("f")
    assert float(page.page.get_attribute("body", "data-zoom")) == pytest.approx(zoom, rel=1e-3)
    page.assert_offline_and_clean()


def test_the_page_of_a_gradient_steps_through_the_gradients_own_graph(browser, tmp_path):
    """docs/engine.md, section 9: x.grad after y.backward(create_graph=True) is a graph; its page steps its backward."""
    from microgradx import Value

    x = Value(4.0, label="x")
    y = x ** 3
    y.backward(create_graph=True)
    dy = x.grad
    dy.label = "y'"
    page = Page(browser, explore(dy, tmp_path / "grad.html"))
    picture = Picture([dy], None)
    root, xk = picture.node(dy).ident, picture.node(x).ident
    assert page.field(root, "data") == "data ?" and page.field(xk, "data") == "data 4"
    for k in range(1, 4):  # forward: x**2.0 = 16, 1 * 3 = 3, y' = 48
        page.key("ArrowRight")
        assert page.page.text_content("#mgx-title").startswith(f"Forward step {k} of 3")
    assert page.field(root, "data") == "data 48"
    page.key("ArrowRight")  # the seed
    assert page.field(root, "grad") == "grad 1" and page.field(xk, "grad") == "grad 0"
    for k in range(1, 4):
        page.key("ArrowRight")
        assert page.page.text_content("#mgx-title").startswith(f"Backward step {k} of 3")
        assert page.field(xk, "grad") == ("grad 24" if k == 3 else "grad 0")  # d y'/dx = 6x, at the last step
    rows = page.page.eval_on_selector_all("#mgx-terms tr.term", "rows => rows.map(r => r.innerText)")
    assert len(rows) == 1 and "2.0*x = 8" in rows[0] and "3 \u00d7 8" in rows[0] and "0 \u2192 24" in rows[0], rows
    (square,) = [v for v in topological_order(dy) if v._op == "**2.0"]
    assert picture.node(square).ident in page.marked("visited") and page.marked("input") == [xk]
    assert isinstance(x.grad, Value) and x.grad is dy  # the page ran that backward from zero and put x.grad back
    page.assert_offline_and_clean()
