"""The micrograd lecture's notebooks and micrograd's own notebooks run with only the import changed.

The notebooks are in ``tests/lecture/`` as published (see its README: where they come from,
their MIT licences). Each runs twice in this process, cell by cell (`helpers.notebooks`):

* the lecture's two notebooks (karpathy/nn-zero-to-hero, ``lectures/micrograd/``): the
  reference runs them as published, except that the Neuron/Layer/MLP cell imports
  micrograd 0.1.0's classes; ours replaces the ``class Value`` definition with ``from
  microgradx import Value`` and the Neuron/Layer/MLP cell with ``from microgradx.nn import
  Neuron, Layer, MLP``. After every cell, every Value both namespaces hold under one name
  (and every module's parameters), everything printed and the cell's result (a number, a
  Value, the lecture's ``draw_dot`` picture) agree: to 1e-12 relative before the
  Neuron/Layer/MLP cell, against the lecture's own ``Value``; to 1e-9 after it, against
  micrograd 0.1.0 from the same ``random`` state;
* micrograd's ``demo.ipynb`` and ``trace_graph.ipynb`` (karpathy/micrograd): the reference
  runs them with micrograd 0.1.0, ours with ``micrograd.engine``/``micrograd.nn`` swapped for
  microgradx. demo.ipynb prints the same loss and accuracy at every step (to 1e-9), and its
  decision-boundary cell runs. Its training cell takes 100 steps of about 1 s each in
  micrograd (0.6 s in microgradx) here, so the suite runs its first 5 (the learning-rate
  schedule unchanged); ``MICROGRADX_FULL_DEMO=1`` runs all 100 (CI does). Every step is also
  checked against the loss and accuracy the published notebook printed.

Cells that need PyTorch (the lecture compares with it) run where it is installed; the
pictures are rendered by Graphviz's ``dot`` where it is installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.notebooks import (
    NUMBER,
    Lockstep,
    close,
    code_cells,
    compare,
    recorded_output,
    replace_classes,
    replace_line,
)

pytest.importorskip("micrograd", reason='micrograd 0.1.0 is the reference: pip install -e ".[test]"')
pytest.importorskip("graphviz", reason='the lecture draws with the graphviz package: pip install -e ".[test]"')

HERE = Path(__file__).resolve().parent / "lecture"
FIRST = HERE / "micrograd_lecture_first_half_roughly.ipynb"
SECOND = HERE / "micrograd_lecture_second_half_roughly.ipynb"
DEMO = HERE / "demo.ipynb"
TRACE = HERE / "trace_graph.ipynb"
NN = ("Neuron", "Layer", "MLP")
LECTURE_REL, MICROGRAD_REL = 1e-12, 1e-9
FULL_DEMO = os.environ.get("MICROGRADX_FULL_DEMO", "") not in ("", "0")
DEMO_STEPS = 100 if FULL_DEMO else 5
HAS_DOT = shutil.which("dot") is not None

# (the notebooks run once, in the module fixture `runs`: pytest-xdist keeps the module on one worker,
# see tests/helpers/scheduling.py)
pytestmark = pytest.mark.notebook


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _skip_torch(k: int, source: str) -> bool:
    """The lecture's PyTorch cells run where PyTorch is installed (it is never a dependency)."""
    return "torch" in source and not _has_torch()


def _nn_cell(cells: list[str]) -> int:
    (k,) = [k for k, c in enumerate(cells) if "class Neuron" in c]
    return k


def _lecture(path: Path) -> Lockstep:
    """A lecture notebook: the lecture's Value, then micrograd 0.1.0's nn, against microgradx."""
    cells = code_cells(path)
    nn = _nn_cell(cells) if any("class Neuron" in c for c in cells) else len(cells)
    reference, ours = list(cells), list(cells)
    for k, source in enumerate(cells):
        if "class Value" in source:
            ours[k] = replace_classes(source, ["Value"], "from microgradx import Value")
        if k == nn:
            reference[k] = replace_classes(source, NN, "from micrograd.nn import Neuron, Layer, MLP")
            ours[k] = replace_classes(source, NN, "from microgradx.nn import Neuron, Layer, MLP")

    def check(k, ref, mine, ref_ns, our_ns):
        # the lecture's `o = (e - 1) / (e + 1)` is two ops here (sub, div) and four there (+, *, **-1, the -1)
        same_graph = "(e - 1) / (e + 1)" not in ref.source
        return compare(ref, mine, ref_ns, our_ns, LECTURE_REL if k < nn else MICROGRAD_REL, unordered={"topo"},
                       same_graph=same_graph)

    return Lockstep(reference, ours, path.stem, _skip_torch, check, keep={"o", "x1", "w1", "x2", "n"})


def _demo(path: Path, steps: int) -> Lockstep:
    cells = code_cells(path)
    ours = [c.replace("from micrograd.engine import Value", "from microgradx import Value")
            .replace("from micrograd.nn import Neuron, Layer, MLP", "from microgradx.nn import Neuron, Layer, MLP")
            for c in cells]
    reference = list(cells)
    (train,) = [k for k, c in enumerate(cells) if "for k in range(100):" in c]
    for run in (reference, ours):
        run[train] = replace_line(run[train], "for k in range(100):", f"for k in range({steps}):")
    check = lambda k, ref, mine, ref_ns, our_ns: compare(ref, mine, ref_ns, our_ns, MICROGRAD_REL)
    # 100 steps with the collector paused would hold 6.5 GB of micrograd's cycles: collect now and then
    return Lockstep(reference, ours, path.stem, lambda k, source: False, check, keep={"model", "Z", "xx"},
                    gc_threshold=(100_000, 50, 1_000) if steps > 10 else None)


def _trace(path: Path) -> Lockstep:
    cells = code_cells(path)
    ours = [c.replace("from micrograd.engine import Value", "from microgradx import Value")
            .replace("from micrograd import nn", "from microgradx import nn") for c in cells]
    check = lambda k, ref, mine, ref_ns, our_ns: compare(ref, mine, ref_ns, our_ns, MICROGRAD_REL)
    return Lockstep(list(cells), ours, path.stem, lambda k, source: "render(" in source and not HAS_DOT, check)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each notebook run once in lockstep (in a scratch folder: trace_graph.ipynb writes a file)."""
    import matplotlib

    matplotlib.use("Agg")
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("notebooks"))
    try:
        yield {"first": _lecture(FIRST), "second": _lecture(SECOND), "demo": _demo(DEMO, DEMO_STEPS),
               "trace": _trace(TRACE)}
    finally:
        os.chdir(cwd)


# -- the lecture ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["first", "second"])
def test_the_lecture_runs_with_microgradx_and_gives_its_numbers(runs, name):
    run = runs[name]
    assert run.problems == {}, run.report()
    ran = {c.index for c in run.ours.cells}
    cells = code_cells(FIRST if name == "first" else SECOND)
    assert ran | set(run.skipped) == set(range(len(cells)))
    assert all("torch" in cells[k] for k in run.skipped)  # only PyTorch's cells, only without PyTorch
    assert len(run.pairs) == len(ran)  # every cell that ran was compared


def test_the_first_notebook_steps_backward_by_hand_with_underscore_backward(runs):
    """``o.grad = 1.0; o._backward(); n._backward(); ...`` after ``o.backward()``: each call adds one node's
    step on top of the grads already there, as micrograd's closures do (compared cell by cell above)."""
    ns = runs["first"].ours.namespace
    by_hand = [c for c in runs["first"].ours.cells if c.source.strip().endswith("._backward()")]
    assert len(by_hand) == 5 and all(c.error is None for c in by_hand)  # o, n, b (a leaf), x1w1x2w2, x2w2+x1w1
    # the neuron with b = 6.8813735870195432: o = tanh(0.8814) = 0.7071. The second pass by hand doubled
    # x1w1.grad to 2 (0.5 from backward(), then 0.5 + 1.0 from o's and n's steps), so the cell
    # `x1.grad = w1.data * x1w1.grad` gives -3 * 2
    assert close(ns["o"].data, 0.7071067811865476, 1e-12)
    assert close(ns["x1"].grad, -6.0, 1e-12) and close(ns["w1"].grad, 4.0, 1e-12) and close(ns["x2"].grad, 2.0, 1e-12)


def test_the_second_notebook_trains_micrograds_mlp_to_micrograds_numbers(runs):
    run = runs["second"]
    (train,) = [pair for pair in run.pairs if "loss.backward()" in pair[0].source]
    ref, mine = train
    losses = [float(x) for x in re.findall(r"^\d+ (\S+)$", mine.stdout, re.M)]
    assert len(losses) == 20 and losses == pytest.approx([float(x) for x in re.findall(r"^\d+ (\S+)$", ref.stdout,
                                                                                       re.M)], rel=1e-9)
    n = run.ours.namespace["n"]
    assert type(n).__module__ == "microgradx.nn" and len(n.parameters()) == 41


def test_the_lectures_draw_dot_draws_microgradx_graphs(runs):
    pictures = [mine.result for _, mine in runs["first"].pairs if hasattr(mine.result, "body")]
    assert len(pictures) == 4  # L, the neuron o, b = a + a, f = d * e
    text = "".join(pictures[1].body)
    for label in ("x1", "x2", "w1", "w2", "b", "n", "o", "x1*w1 + x2*w2"):
        assert f"{{ {label} | data" in text
    assert 'label="+"' in text and 'label="*"' in text and "label=tanh" in text


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz; .ci/run does)")
def test_the_lectures_pictures_render(runs):
    svgs = [mine.result.pipe(format="svg").decode() for name in ("first", "second") for _, mine in runs[name].pairs
            if hasattr(mine.result, "body")]
    assert len(svgs) == 6
    assert all(s.lstrip().startswith("<?xml") and "<svg" in s for s in svgs)
    assert ">data 0.7071<" in svgs[1] and ">tanh<" in svgs[1]  # o = tanh(n), the lecture's 0.7071


# -- micrograd's notebooks -----------------------------------------------------------------------


def test_micrograds_demo_prints_micrograds_loss_and_accuracy_at_every_step(runs):
    run = runs["demo"]
    assert run.problems == {}, run.report()
    (train,) = [pair for pair in run.pairs if "total_loss.backward()" in pair[0].source]
    ref, mine = train
    steps = re.findall(r"^step (\d+) loss (\S+), accuracy (\S+)%$", mine.stdout, re.M)
    assert [int(k) for k, _, _ in steps] == list(range(DEMO_STEPS))
    live = re.findall(r"^step (\d+) loss (\S+), accuracy (\S+)%$", ref.stdout, re.M)
    published = re.findall(r"^step (\d+) loss (\S+), accuracy (\S+)%$",
                           recorded_output(DEMO, ref.index), re.M)[:DEMO_STEPS]
    for against in (live, published):  # micrograd 0.1.0 here, and the notebook as Karpathy ran it
        assert len(against) == DEMO_STEPS
        for (k, loss, acc), (_, want_loss, want_acc) in zip(steps, against):
            assert close(loss, want_loss, MICROGRAD_REL) and close(acc, want_acc, MICROGRAD_REL), f"step {k}"
    model = run.ours.namespace["model"]
    assert type(model).__module__ == "microgradx.nn" and len(model.parameters()) == 337


def test_micrograds_demo_draws_its_decision_boundary(runs):
    run = runs["demo"]
    (boundary,) = [mine for _, mine in run.pairs if "contourf" in mine.source]
    assert boundary.error is None
    Z, xx = run.ours.namespace["Z"], run.ours.namespace["xx"]
    assert Z.shape == xx.shape and Z.size > 100 and 0 < Z.mean() < 1  # both classes on the grid


def test_micrograds_trace_graph_draws_microgradx_values(runs):
    run = runs["trace"]
    assert run.problems == {}, run.report()
    pictures = [mine.result for _, mine in run.pairs if hasattr(mine.result, "body")]
    assert len(pictures) == 2
    assert "label=ReLU" in "".join(pictures[0].body)  # micrograd's op string for relu
    numbers = [float(x) for x in NUMBER.findall("".join(pictures[1].body))]
    assert numbers  # the neuron's data and grads, as micrograd draws them (compared above)


def test_the_lectures_pytorch_cells_give_microgradxs_numbers(torch):
    """The second notebook checks its neuron against PyTorch; those cells print microgradx's numbers too."""
    from helpers.notebooks import Run

    from microgradx import Value

    cells = code_cells(SECOND)
    run = Run("pytorch")
    for k, source in enumerate(cells):
        if "torch" in source:
            assert run.run(k, source).error is None
    printed = [float(x) for x in NUMBER.findall("".join(c.stdout for c in run.cells))]
    # torch.Tensor([...]).double() makes float32 first: the lecture's b is rounded to float32 there
    b32 = float(np.float32(6.8813735870195432))
    x1, x2, w1, w2, b = Value(2.0), Value(0.0), Value(-3.0), Value(1.0), Value(b32)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert len(printed) == 9  # o, then "x2", grad, "w2", grad, "x1", grad, "w1", grad: the names hold digits
    assert printed[0] == pytest.approx(o.data, rel=1e-15)
    assert printed[2::2] == pytest.approx([x2.grad, w2.grad, x1.grad, w1.grad], rel=1e-15)


def test_the_comparison_catches_a_different_number_a_missing_value_and_a_different_picture():
    """The lockstep comparison fails where it should, so the tests above can fail."""
    cells = code_cells(FIRST)
    (k,) = [k for k, c in enumerate(cells) if "class Value" in c]
    lecture = cells[k] + "\n"
    ours = replace_classes(lecture, ["Value"], "from microgradx import Value")
    draw = next(c for c in cells if "def draw_dot" in c) + "\n"
    variants = {
        "a grad": (ours + "a.grad = 1e-9\n", "a[0]: data 2.0 grad 0.0 in the reference, data 2.0 grad 1e-09 here"),
        "a print": (ours + "print(L.data * (1 + 1e-11))\n", "printed -8.0 in the reference, -8.00000000008 here"),
        "no value": (ours + "del f\n", "f: Values in the reference, NoneType here"),
    }
    for name, (source, problem) in variants.items():
        reference = [lecture + ("print(L.data)\n" if "print" in name else "")]
        run = Lockstep(reference, [source], name, lambda k, s: False,
                       lambda k, r, m, rn, mn: compare(r, m, rn, mn, LECTURE_REL))
        assert problem in run.report(), (name, run.report())
    picture = "draw_dot(L)\n"  # one Value more in ours: the pictures differ
    run = Lockstep([lecture + draw + picture], [ours + draw + "L = L + 0.0\n" + picture], "picture",
                   lambda k, s: False, lambda k, r, m, rn, mn: compare(r, m, rn, mn, LECTURE_REL))
    assert "the picture's nodes differ" in run.report()
