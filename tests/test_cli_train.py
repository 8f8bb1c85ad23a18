"""`microgradx train` and `microgradx evaluate`, end to end: in-process through `main` (`helpers.cli.run_main`),
and through the installed console script where the process itself is what is tested."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_main

from microgradx import modelfile
from microgradx.cli import main

SCRIPT = Path(sys.executable).parent / "microgradx"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed console script in a subprocess (for the smoke tests of the script itself)."""
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def assert_png(path: Path) -> None:
    """A real PNG with a picture in it (not one flat colour)."""
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert not np.all(pixels == pixels[0, 0])
    assert len(np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)) > 20  # lines, text, colours


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.console
def test_train_with_no_arguments_trains_breast_cancer_to_97_percent():
    proc = run("train")  # the README's first command, through the installed console script
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "breast_cancer: 455 train / 114 test examples, 30 features, 2 classes" in out
    assert "MLP(nin=30, nouts=[16, 16, 1]" in out
    accuracy = float(re.search(r"test accuracy (\d+\.\d)%", out).group(1))
    train_accuracy = float(re.search(r"train accuracy (\d+\.\d)%", out).group(1))
    seconds = float(re.search(r"time +(\d+\.\d+) s", out).group(1))
    assert accuracy >= 97.0 and train_accuracy >= 98.0
    assert seconds < 30
    # the progress display, on stderr
    assert "epoch  1/40  loss " in proc.stderr and "epoch 40/40  loss " in proc.stderr
    assert "trained 40 epochs in" in proc.stderr


def test_train_save_plot_callbacks_then_evaluate(tmp_path):
    proc = run_main("train", "--dataset", "iris", "--hidden", "16,16", "--activation", "tanh", "--optimizer", "adam",
                    "--lr", "0.01", "--schedule", "linear", "--epochs", "30", "--batch-size", "16", "--seed", "1",
                    "--save", "model.json", "--plot", "curves.png",
                    "--callbacks", "early_stopping:patience=100,checkpoint:path=best.npz,log:path=log.csv",
                    "--json", "--quiet", cwd=tmp_path, warning_action=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: no progress display
    result = json.loads(proc.stdout)
    assert result["loss_name"] == "softmax_ce"  # chosen from the dataset's task
    assert result["epochs"] == 30 and result["test_accuracy"] >= 0.9
    assert result["saved"] == "model.json" and result["plot"] == "curves.png"
    assert_png(tmp_path / "curves.png")
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert len(rows) == 30
    assert [float(r["loss"]) for r in rows] == result["history"]["loss"]
    best = modelfile.read(tmp_path / "best.npz")
    assert best.meta["epoch"] == 1 + int(np.argmin(result["history"]["test_loss"]))

    proc = run_main("evaluate", "model.json", "--json", cwd=tmp_path, warning_action=None)
    assert proc.returncode == 0, proc.stderr
    evaluated = json.loads(proc.stdout)
    assert evaluated["dataset"] == "iris" and evaluated["seed"] == 1  # from the model file
    assert evaluated["test_accuracy"] == result["test_accuracy"]
    assert evaluated["train_accuracy"] == result["train_accuracy"]
    assert evaluated["test_loss"] == pytest.approx(result["test_loss"], rel=1e-9)

    proc = run_main("evaluate", "model.json", "--dataset", "iris", "--seed", "1", cwd=tmp_path,
                    warning_action=None)
    assert proc.returncode == 0
    assert f"test accuracy {100 * result['test_accuracy']:.1f}%" in proc.stdout


@pytest.mark.console
def test_bad_options_through_the_console_script_exit_2_with_one_line():
    proc = run("train", "--loss", "focal")  # the script's exit status and stderr, as a shell sees them
    assert proc.returncode == 2
    line = one_line_error(proc.stderr)
    assert line.startswith("microgradx train: error:") and "'focal'" in line and "bce, hinge, mse, softmax_ce" in line
    proc = run_main("train", "--epochs", "many", warning_action=None)
    assert proc.returncode == 2
    assert "argument --epochs: invalid int value: 'many'" in one_line_error(proc.stderr)


@pytest.mark.parametrize("args, message", [
    (["--lr", "-1"], "lr (learning rate) must be a positive number, got -1.0"),
    (["--batch-size", "0"], "batch_size must be at least 1, got 0"),
    (["--batch-size", "lots"], "expected a number of examples or 'full'"),
    (["--epochs", "0"], "epochs must be at least 1, got 0"),
    (["--hidden", "16,x"], "expected comma-separated layer sizes"),
    (["--hidden", "16,0"], "layer sizes must be at least 1"),
    (["--dataset", "mnist"], "registered datasets: blobs, breast_cancer, bumps, circles, csv, diabetes, digits, iris, "
                             "moons, spiral, wine, xor"),
    (["--model", "ResNet"], "no layer named 'ResNet' is registered; registered layers: Layer, MLP, Neuron"),
    (["--model", "MLP:dropout=0.5"], "--model: layer 'MLP' has no setting 'dropout'"),
    (["--optimizer", "rmsprop"], "registered optimizers: adam, sgd"),
    (["--optimizer", "adam", "--momentum", "0.9"], "optimizer 'adam' has no momentum setting"),
    (["--optimizer", "adam:gamma=2"], "optimizer 'adam' has no setting 'gamma' (its settings: beta1, beta2, eps"),
    (["--loss", "bce:weight=2"], "--loss: loss 'bce' has no setting 'weight' (its settings: l2)"),
    (["--schedule", "linear:end_factor=3"], "end_factor must be a number in [0, 1], got 3"),
    (["--activation", "softmax"], "MLP: activation must be the name of a registered unary op"),
    (["--loss", "hinge:l2=-1"], "l2 must be a finite number >= 0"),
    (["--dataset", "iris", "--loss", "bce"], "dataset 'iris' has 3 classes; use a multiclass loss"),
    (["--callbacks", "early_stopping:patience=0"], "EarlyStopping: patience must be a positive int, got 0"),
    (["--callbacks", "early_stopping:wait=3"], "callback 'early_stopping' has no setting 'wait' (its settings: min"),
    (["--callbacks", "tensorboard"], "registered callbacks: checkpoint, early_stopping, log, progress"),
    (["--callbacks", "log:path"], "expected NAME:KEY=VALUE"),
    (["--test-size", "1.5"], "test_size must be a fraction in (0, 1)"),
    (["--noise", "0.2"], "noise applies only to the synthetic datasets"),
    (["--mode", "fast"], "invalid choice: 'fast'"),
    (["--save", "/nonexistent-dir/m.json"], "does not exist"),
    (["--plot", "/nonexistent-dir/c.png"], "does not exist"),
])
def test_bad_train_options_are_one_line_errors_with_exit_status_2(capsys, args, message):
    try:
        status = main(["train", "--epochs", "1", *args])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == 2
    captured = capsys.readouterr()
    line = one_line_error(captured.err)
    assert line.startswith("microgradx train: error:")
    assert message in line
    assert "test accuracy" not in captured.out  # refused before training


def test_plot_without_matplotlib_says_how_to_install_it(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    status = main(["train", "--epochs", "1", "--plot", str(tmp_path / "c.png")])
    assert status == 2
    line = one_line_error(capsys.readouterr().err)
    assert "plotting needs matplotlib" in line and "pip install 'microgradx[plot]'" in line
    assert not (tmp_path / "c.png").exists()

    from microgradx.plotting import MissingDependencyError, plot_history

    with pytest.raises(MissingDependencyError, match=r"pip install 'microgradx\[plot\]'"):
        plot_history({"loss": [1.0, 0.5]}, tmp_path / "c.png")


def test_the_issue_example_command_line_and_scalar_mode(capsys):
    status = main(["train", "--dataset", "moons", "--hidden", "16,16", "--activation", "tanh", "--loss", "hinge",
                   "--optimizer", "sgd", "--lr", "0.1", "--epochs", "100", "--batch-size", "32", "--seed", "1",
                   "--quiet", "--json"])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["loss_name"] == "hinge" and result["train_accuracy"] >= 0.95 and result["test_accuracy"] >= 0.9

    status = main(["train", "--dataset", "iris", "--mode", "scalar", "--epochs", "3", "--batch-size", "full"])
    assert status == 0
    captured = capsys.readouterr()
    assert "3 epochs, full batch, scalar mode" in captured.out
    assert "epoch 3/3" in captured.err


def test_model_settings_from_the_command_line(capsys):
    """MLP:fused=false builds micrograd's fine-grained graph: a different graph, the same numbers."""
    results = []
    for model in ("MLP", "MLP:fused=false"):
        assert main(["train", "--dataset", "iris", "--epochs", "3", "--quiet", "--json", "--model", model]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert "fused=True" in results[0]["model"] and "fused=False" in results[1]["model"]
    np.testing.assert_allclose(results[1]["history"]["loss"], results[0]["history"]["loss"], rtol=1e-10)


@pytest.mark.parametrize("content, message", [
    ("{\"format\": \"microgradx-model\", \"vers", "corrupt or truncated JSON"),
    ("{\"format\": \"microgradx-model\", \"version\": 1, \"spec\": {\"layer\": \"__import__('os')\"}, \"weights\": []}",
     "no layer named"),
])
def test_evaluate_a_bad_model_file_is_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["evaluate", str(path), "--dataset", "breast_cancer"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith("microgradx evaluate: error: model file") and str(path) in line and message in line


def test_evaluate_checks_the_dataset_and_warns_about_a_different_split(tmp_path, capsys):
    path = str(tmp_path / "m.json")
    assert main(["train", "--dataset", "iris", "--epochs", "2", "--quiet", "--save", path]) == 0
    capsys.readouterr()
    assert main(["evaluate", path, "--dataset", "wine"]) == 2
    assert "the model takes 4 inputs but dataset 'wine' has 13 features" in one_line_error(capsys.readouterr().err)
    assert main(["evaluate", path, "--seed", "5"]) == 0
    assert "the 'test' examples overlap" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in one_line_error(capsys.readouterr().err)


def test_train_eager_gives_the_compiled_runs_numbers(capsys):
    assert main(["train", "--epochs", "2", "--quiet", "--json"]) == 0
    compiled = json.loads(capsys.readouterr().out)
    assert main(["train", "--epochs", "2", "--quiet", "--json", "--eager"]) == 0
    eager = json.loads(capsys.readouterr().out)
    assert compiled["test_accuracy"] == eager["test_accuracy"]
    assert compiled["history"]["loss"] == pytest.approx(eager["history"]["loss"], rel=1e-9)
