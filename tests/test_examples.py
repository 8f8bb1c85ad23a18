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

from microgradx.train import Trainer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name: str, *args: str, cwd: Path, env: Optional[dict] = None) -> str:
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
