"""docs/pictures.md stays true: every command and code block in it runs, and makes the picture it promises.

The guide is a newcomer's path from install to a labelled graph of tanh(a*b + c) with
its gradients, the training pictures and the executed notebook; these tests follow it
in a temporary folder with the commands of this environment (``microgradx`` and ``python``
run in this process, see `run`; its ``jupyter execute`` command is run by tests/test_notebook.py,
which checks the notebook it writes).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_main, run_script

from microgradx import Value
from microgradx.draw import GraphvizNotFoundWarning, find_dot, format_number

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "pictures.md"
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
SVG_NS = "{http://www.w3.org/2000/svg}"


def blocks(kind: str) -> list[str]:
    """The guide's fenced code blocks of one kind (``sh``, ``python``, ``text``), in order."""
    return [m.group(2) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8")) if m.group(1) == kind]


def commands(prefix: str) -> list[str]:
    """The shell commands of the guide that start with ``prefix``."""
    lines = [line.strip() for block in blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def run(command: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the guide's commands in ``cwd`` with this environment's programs.

    ``microgradx ...`` and ``python FILE ...`` run in this process (`helpers.cli.run_main`,
    `helpers.cli.run_script`: the command's code, without an interpreter's start-up; the console
    script itself is tested by tests/test_cli_core.py); ``jupyter``, and any command given an
    ``env``, runs in a subprocess: the console script beside ``sys.executable``, or
    ``sys.executable`` for ``python``. A file under ``examples/`` is copied into ``cwd``
    first (so whatever the command writes beside it stays in ``cwd``).
    """
    argv = shlex.split(command)
    for arg in argv[1:]:
        if arg.startswith("examples/"):
            (cwd / arg).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / arg, cwd / arg)
    if argv[0] == "microgradx" and env is None:
        return run_main(*argv[1:], cwd=cwd, warning_action=None)
    if argv[0] == "python" and env is None:
        return run_script(cwd / argv[1], *argv[2:], cwd=cwd)
    program = {"python": sys.executable}.get(argv[0]) or str(BIN / argv[0])
    return subprocess.run([program, *argv[1:]], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)


def output_file(command: str) -> str:
    """The file a command writes its picture to (its ``--out`` or ``--plot`` argument)."""
    argv = shlex.split(command)
    flag = next(f for f in ("--out", "--plot", "--output") if f in argv)
    return argv[argv.index(flag) + 1]


def assert_png(path: Path) -> None:
    """A real PNG with a picture in it (not one flat colour)."""
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 20  # lines, text, colours


def svg_texts(path: Path) -> list[str]:
    """Every piece of text drawn in an SVG file (which must parse as SVG)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg", f"{path} is not an SVG picture"
    return [t.text.strip() for t in root.iter(f"{SVG_NS}text") if t.text and t.text.strip()]


def expected_gradients() -> dict[str, float]:
    """d tanh(a*b + c) / d(a, b, c) at a=2, b=-3, c=10, computed here by microgradx."""
    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    (a * b + c).tanh().backward()
    return {"a": a.grad, "b": b.grad, "c": c.grad}


def test_the_guide_has_the_commands_the_tests_follow():
    """A command added to the guide must be one these tests run (or a documented install step)."""
    known = ("pip install ", "microgradx ", "python examples/", "jupyter execute ")
    for line in commands(""):
        assert line.startswith(known), f"docs/pictures.md: no test runs {line!r}"
    assert any("tanh(a*b + c)" in c for c in commands("microgradx graph"))
    assert any("--plot" in c for c in commands("microgradx train"))
    assert commands("python examples/moons.py") and commands("jupyter execute")


def test_the_install_steps_name_extras_and_packages_that_exist():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for line in commands("pip install "):
        for spec in shlex.split(line)[2:]:
            if spec == "-e":  # an editable install of the clone
                continue
            match = re.fullmatch(r"\.\[(\w+)\]", spec)
            if match:
                assert match.group(1) in extras, f"{line!r}: pyproject.toml has no extra {match.group(1)!r}"
                if match.group(1) == "plot":
                    assert any(d.startswith("matplotlib") for d in extras["plot"])
            else:
                assert re.fullmatch(r"[a-z][a-z0-9_-]*", spec), f"{line!r}: unexpected argument {spec!r}"


def test_the_graph_commands_print_the_documented_gradients_and_draw_them(tmp_path):
    grads = expected_gradients()
    for command in commands("microgradx graph"):
        proc = run(command, tmp_path)
        if "--html" in command:  # the explorer page (tested in a browser by tests/test_explorer_browser.py)
            assert proc.returncode == 0, proc.stderr
            page = shlex.split(command)[shlex.split(command).index("--html") + 1]
            assert proc.stdout.endswith(f"wrote {page}\n")
            text = (tmp_path / page).read_text(encoding="utf-8")
            assert text.startswith("<!DOCTYPE html>") and 'id="mgx-steps"' in text
            assert ("data 0.99933" in text) == ("tanh(a*b + c)" in command)
            assert ("L1.n0" in text) == ("--mlp" in command)
            continue
        out = tmp_path / output_file(command)
        assert proc.returncode == 0, proc.stderr  # with Graphviz, or without it (the built-in layout's SVG)
        assert ("built-in layout" in proc.stderr) == (find_dot() is None)
        assert proc.stdout.endswith(f"wrote {output_file(command)}\n")
        texts = svg_texts(out)
        if "tanh(a*b + c)" in command:
            documented = next(b for b in blocks("text") if b.startswith("result = "))
            assert proc.stdout == documented, "docs/pictures.md shows an output the command no longer prints"
            for name, grad in grads.items():
                assert name in texts and f"grad {format_number(grad)}" in texts
                assert f"d(result)/d{name} = {format_number(grad, 6)}" in proc.stdout
            assert {"*", "+", "tanh", "grad 1"} <= set(texts)
        elif "--neuron" in command:
            assert {"x0", "x1", "w0", "w1", "b", "out", "*", "+", "tanh"} <= set(texts)
        else:  # --mlp ... --collapse
            assert {"L0.n0", "L0.n2", "L1.n0"} <= set(texts)


def test_the_python_example_draws_the_labelled_graph(tmp_path, monkeypatch):
    (code,) = blocks("python")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphvizNotFoundWarning)
        exec(compile(code, str(DOC), "exec"), namespace)
    grads = expected_gradients()
    assert [namespace[n].grad for n in "abc"] == [grads[n] for n in "abc"]
    assert f"grad {format_number(grads['a'])}" in namespace["text"]
    assert "digraph" in (tmp_path / "expr.dot").read_text(encoding="utf-8")
    assert not [w for w in caught if issubclass(w.category, GraphvizNotFoundWarning)]  # an SVG needs no Graphviz
    assert "Backprop explorer" in (tmp_path / "expr.html").read_text(encoding="utf-8")
    texts = svg_texts(tmp_path / "expr.svg")
    assert {"a", "b", "c", "out", f"grad {format_number(grads['c'])}"} <= set(texts)


def test_the_guide_shows_the_explorer_page_and_how_to_open_it():
    text = DOC.read_text(encoding="utf-8")
    shot = re.search(r"!\[[^\]]+\]\((\S+\.png)\)", text)
    assert shot, "docs/pictures.md shows no screenshot"
    assert_png(DOC.parent / shot.group(1))
    assert "--html expr.html" in text and "xdg-open expr.html" in text
    assert any("--collapse --html" in c for c in commands("microgradx graph"))


@pytest.mark.slow
def test_the_training_pictures_are_real_pngs(tmp_path):
    (train,) = commands("microgradx train")
    proc = run(train, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert float(re.search(r"test accuracy (\d+\.\d)%", proc.stdout).group(1)) >= 97.0
    assert_png(tmp_path / output_file(train))
    (moons,) = commands("python examples/moons.py")
    proc = run(moons, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "training accuracy 100%" in proc.stdout
    assert_png(tmp_path / output_file(moons))
