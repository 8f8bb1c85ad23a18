"""The examples run, reach their targets, and agree with the Trainer."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from helpers.cli import run_script

from microgradx.train import Trainer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name: str, *args: str, cwd: Path, env: Optional[dict] = None) -> str:
    """``python examples/NAME.py ARGS`` in ``cwd``: its output (the test fails if it exits nonzero).

    In this process as ``__main__`` (`helpers.cli.run_script`); with ``env`` (a whole environment,
    say one where matplotlib cannot be imported) in a fresh interpreter.
    """
    if env is None:
        proc = run_script(EXAMPLES / f"{name}.py", *args, cwd=cwd)
    else:
        proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], capture_output=True, text=True,
                              timeout=300, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_png(path: Path) -> None:
    """A real PNG with a picture in it (not one flat colour)."""
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
    assert not np.all(pixels == pixels[0, 0])
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 20


def test_breast_cancer_example_reaches_97_percent_well_under_a_minute(tmp_path):
    out = run_example("breast_cancer", cwd=tmp_path)
    match = re.search(r"test accuracy (\d+\.\d)% \(train (\d+\.\d)%\) in (\d+\.\d+) s", out)
    assert match, out
    test, train, seconds = map(float, match.groups())
    assert test >= 97.0 and train >= 98.0
    assert seconds < 30
    assert "MLP(nin=30, nouts=[16, 16, 1]" in out


@pytest.mark.parametrize("name", ["breast_cancer", "moons"])
def test_the_example_loops_are_plain(name):
    """Spelled out for reading: forward, zero_grad, backward, update, with no speed tricks around them."""
    source = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8")
    for step in ("model.zero_grad()", "loss.backward()", "optimizer.step()"):
        assert step in source
    for trick in ("gc_paused", "compile(", "retain_graph"):
        assert trick not in source, f"examples/{name}.py uses {trick}"


def test_breast_cancer_example_is_the_trainer_spelled_out(capsys):
    """Same data, model, loss, optimizer, schedule and shuffling: the same numbers as `Trainer`."""
    example = load_example("breast_cancer")
    result = example.main(["--epochs", "3"])
    history = Trainer(dataset="breast_cancer", epochs=3, seed=0).fit()
    assert result["test_accuracy"] == history.test_accuracy[-1]
    assert result["train_accuracy"] == history.train_accuracy[-1]
    assert "epoch   3  loss" in capsys.readouterr().out


def test_breast_cancer_example_scalar_mode_matches_lane_mode():
    example = load_example("breast_cancer")
    lanes = example.main(["--epochs", "2"])
    scalar = example.main(["--epochs", "2", "--mode", "scalar"])
    assert scalar["test_accuracy"] == lanes["test_accuracy"] and scalar["train_accuracy"] == lanes["train_accuracy"]
    assert lanes["test_accuracy"] >= 0.85  # two epochs already learn (a broken gradient stays near 37-63%)


def test_moons_example_fits_the_training_set_and_draws_the_boundary(tmp_path):
    out = run_example("moons", "--out", "boundary.png", cwd=tmp_path)
    assert "training accuracy 100% after 100 steps" in out
    losses = [float(x) for x in re.findall(r"loss (\d+\.\d+)", out)]
    assert losses[-1] < 0.1 < losses[0]
    assert_png(tmp_path / "boundary.png")


def test_moons_example_without_matplotlib_trains_and_says_what_to_install(tmp_path):
    # what `pip install .` alone gives: no matplotlib (an import of it fails, as when it is not installed)
    blocker = tmp_path / "blocker"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    out = run_example("moons", cwd=tmp_path, env=env)
    assert "training accuracy 100% after 100 steps" in out
    assert "pip install 'microgradx[plot]'" in out
    assert not (tmp_path / "moons.png").exists()


@pytest.mark.parametrize("seed", [0, 7])
def test_moons_example_reaches_100_percent_for_other_seeds_too(seed, capsys):
    result = load_example("moons").main(["--seed", str(seed), "--out", ""])
    assert result["accuracy"] == 1.0 and result["plot"] is None


# -- derivatives of derivatives (issue 23): a physics-informed network and Newton's method ----------


def test_pinn_compiled_loss_and_gradients_are_the_eager_ones():
    """The loss with u' and u'' inside, compiled (three backward passes recorded), equals eager's, gradients too."""
    import microgradx
    from microgradx import Value

    pinn = load_example("pinn")
    model = pinn.make_model(seed=3)
    params = model.parameters()
    points = np.linspace(0.0, 2 * np.pi, 17)
    eager = pinn.physics_loss(model, Value(points))
    model.zero_grad()
    eager.backward()
    eager_grads = [p.grad for p in params]
    compiled = microgradx.compile(lambda x: pinn.physics_loss(model, x))
    for _ in range(2):  # the recording's call, then a replay
        model.zero_grad()
        out = compiled(points)
        out.backward()
        assert out.data == pytest.approx(eager.data, rel=1e-12)
        np.testing.assert_allclose([p.grad for p in params], eager_grads, rtol=1e-9, atol=1e-12)
    assert compiled.recordings == 1
    assert eager.data > 0.1 and max(abs(g) for g in eager_grads) > 1e-3  # (an untrained network: far from sin x)


def test_pinn_example_compiled_trains_as_eager_does(capsys):
    pinn = load_example("pinn")
    compiled = pinn.main(["--steps", "15", "--points", "16", "--every", "5"])
    eager = pinn.main(["--steps", "15", "--points", "16", "--every", "5", "--eager"])
    assert compiled["loss"] == pytest.approx(eager["loss"], rel=1e-9)
    assert compiled["max_error"] == pytest.approx(eager["max_error"], rel=1e-9)
    out = capsys.readouterr().out
    assert "step    10  loss " in out and "(compiled)" in out and "(eager)" in out


def test_pinn_example_learns_sin_from_the_equation_alone():
    """A short run: the loss falls by a large factor and u is already within 0.05 of sin x on all of [0, 2pi]."""
    result = load_example("pinn").main(["--steps", "500", "--every", "100"])
    assert result["loss"] < result["first_loss"] / 1000
    assert result["max_error"] < 0.05


def test_pinn_example_runs_as_a_script_and_refuses_bad_settings(tmp_path):
    out = run_example("pinn", "--steps", "3", "--every", "1", cwd=tmp_path)
    assert re.search(r"largest error against sin x on 1001 points of \[0, 2pi\]: \S+ after 3 steps", out), out
    assert len(re.findall(r"^step +\d+ +loss", out, re.M)) == 3
    proc = run_script(EXAMPLES / "pinn.py", "--points", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--points must be at least 1, got 0" in proc.stderr


def test_newton_example_reaches_scipys_minimum_with_exact_hessians(capsys):
    from scipy.optimize import rosen_hess

    newton = load_example("newton")
    for dims in (2, 4):
        result = newton.main(["--dims", str(dims)])
        np.testing.assert_allclose(result["x"], np.ones(dims), atol=1e-9)
        assert result["f"] < 1e-18 and result["gradient_norm"] < 1e-10
        assert result["steps"] <= 30  # Newton's quadratic convergence (SciPy's Newton-CG takes 50-90)
        assert result["scipy"]["distance"] < 1e-6
        x0 = np.resize([-1.2, 1.0], dims)
        np.testing.assert_allclose(result["hessian0"], rosen_hess(x0), rtol=1e-12)
    out = capsys.readouterr().out
    assert "step  10  f " in out and "scipy.optimize.minimize (Newton-CG" in out


def test_newton_hessian_is_differentiated_not_hand_written():
    """microgradx.hessian of the example's function at points away from the start, against SciPy's formula."""
    from scipy.optimize import rosen_hess

    from microgradx import hessian

    newton = load_example("newton")
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(size=3)
        np.testing.assert_allclose(hessian(newton.rosenbrock, x), rosen_hess(x), rtol=1e-12, atol=1e-12)


def test_newton_example_refuses_bad_settings(tmp_path):
    proc = run_script(EXAMPLES / "newton.py", "--dims", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "--dims must be at least 2" in proc.stderr
