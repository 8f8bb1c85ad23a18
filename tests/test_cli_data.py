"""The command line with your own data: ``train --data``, ``predict``, ``evaluate --data``, their errors
(exit status 2, one line naming file, row and column, nothing written), the divergence warning and
the progress bar on a real terminal."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_main
from helpers.files import write_csv
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

from microgradx import modelfile
from microgradx.cli import main

SCRIPT = Path(sys.executable).parent / "microgradx"


def read_rows(path: Path) -> list:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """bc.csv (text labels), diabetes.csv (a regression target), digits_raw.csv (raw pixels, no labels)."""
    d = tmp_path_factory.mktemp("cli-data")
    bc = load_breast_cancer()
    write_csv(d / "bc.csv", [*(n.replace(" ", "_") for n in bc.feature_names), "diagnosis"],
              [[*(repr(float(v)) for v in x), bc.target_names[t]] for x, t in zip(bc.data, bc.target)])
    diab = load_diabetes(scaled=False)
    write_csv(d / "diabetes.csv", [*diab.feature_names, "progression"],
              [[*(repr(float(v)) for v in x), repr(float(t))] for x, t in zip(diab.data, diab.target)])
    digits = load_digits()
    write_csv(d / "digits_raw.csv", digits.feature_names, [[repr(float(v)) for v in x] for x in digits.data])
    return d


def test_every_way_of_naming_a_file_trains_on_it(data_dir, capsys, monkeypatch):
    monkeypatch.chdir(data_dir)
    results = []
    for args in (["--data", "bc.csv"], ["--dataset", "bc.csv"], ["--dataset", "./bc.csv"],
                 ["--dataset", "csv:path=bc.csv"]):
        assert main(["train", *args, "--epochs", "15", "--quiet", "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert all(r["test_accuracy"] == results[0]["test_accuracy"] >= 0.93 for r in results)
    assert results[0]["task"] == "binary" and results[0]["n_train"] == 455


def test_train_save_predict_and_evaluate_a_classifier_from_csv(data_dir, tmp_path):
    model = tmp_path / "bc.json"
    proc = run_main("train", "--data", str(data_dir / "bc.csv"), "--epochs", "20", "--quiet", "--save", str(model),
                    warning_action=None)
    assert proc.returncode == 0, proc.stderr
    assert "target 'diagnosis' (binary)" in proc.stdout and "test accuracy" in proc.stdout
    schema = modelfile.read(model).schema
    assert schema.classes == ("benign", "malignant") and schema.target == "diagnosis" and schema.loss == "bce"
    assert len(schema.features) == 30 and schema.standardized

    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(data_dir / "bc.csv"), "--out", str(out), "--proba"]) == 0
    rows = read_rows(out)
    assert rows[0] == ["diagnosis", "P(benign)", "P(malignant)"]
    truth = [r[-1] for r in read_rows(data_dir / "bc.csv")[1:]]
    predicted = [r[0] for r in rows[1:]]
    assert len(predicted) == 569 and set(predicted) <= {"benign", "malignant"}
    assert np.mean(np.array(predicted) == np.array(truth)) > 0.95
    proba = np.array([[float(p) for p in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert [("benign", "malignant")[i] for i in proba.argmax(axis=1)] == predicted

    proc = run_main("evaluate", str(model), "--data", str(data_dir / "bc.csv"), "--json", warning_action=None)
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(proc.stdout)
    assert scored["n"] == 569 and scored["accuracy"] == pytest.approx(np.mean(np.array(predicted) == truth))


def test_a_saved_digits_model_predicts_raw_pixels_as_well_as_it_scores(data_dir, tmp_path, capsys):
    """The issue's case: a model file now holds its standardisation, so raw pixels are predicted correctly."""
    model = tmp_path / "digits.npz"
    assert main(["train", "--dataset", "digits", "--epochs", "20", "--quiet", "--json", "--save", str(model)]) == 0
    test_accuracy = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert main(["predict", str(model), str(data_dir / "digits_raw.csv")]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0] == ["prediction"]
    predicted = np.array([int(r[0]) for r in rows[1:]])
    accuracy = np.mean(predicted == load_digits().target)
    assert accuracy >= max(test_accuracy - 0.01, 0.95)  # all 1797 rows, the training ones included


def test_regression_from_csv_reports_r2_and_predicts_in_the_targets_units(data_dir, tmp_path, capsys):
    model = tmp_path / "diabetes.json"
    assert main(["train", "--data", str(data_dir / "diabetes.csv"), "--optimizer", "adam", "--epochs", "30",
                 "--quiet", "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "target 'progression' (regression)" in out and "test R² " in out and "loss mse" in out
    assert main(["predict", str(model), str(data_dir / "diabetes.csv")]) == 0
    values = np.array([float(r[0]) for r in list(csv.reader(capsys.readouterr().out.splitlines()))[1:]])
    target = load_diabetes().target
    assert abs(values.mean() - target.mean()) < 15 and values.std() > 20  # in the target's units, not standardised
    assert main(["evaluate", str(model), "--data", str(data_dir / "diabetes.csv"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["r2"] > 0.3 and scored["rmse"] == pytest.approx(np.sqrt(np.mean((values - target) ** 2)))
    assert main(["predict", str(model), str(data_dir / "diabetes.csv"), "--proba"]) == 2
    assert "no class probabilities: it is a regression model" in one_line(capsys.readouterr().err)


BAD = {
    "missing": ("x,y,label\n1,2,a\n3,,b\n1,1,a\n2,2,b\n", r"bad.csv: row 3, column 2 \('y'\): missing value"),
    "text": ("x,y,label\n1,2,a\n3,four,b\n1,1,a\n2,2,b\n", r"row 3, column 2 \('y'\): 'four' is not a number"),
    "ragged": ("x,y,label\n1,2,a\n3,4\n", r"bad.csv: row 3, column 3 \('label'\): the row ends after 2 cells"),
    "empty": ("", "bad.csv: the file is empty"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_one_line_with_exit_status_2_and_nothing_written(tmp_path, capsys, case):
    text, message = BAD[case]
    (tmp_path / "bad.csv").write_text(text, encoding="utf-8")
    saved = tmp_path / "model.json"
    assert main(["train", "--data", str(tmp_path / "bad.csv"), "--epochs", "1", "--save", str(saved)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("microgradx train: error:") and __import__("re").search(message, line)
    assert not saved.exists() and list(tmp_path.iterdir()) == [tmp_path / "bad.csv"]


def test_an_unknown_target_and_options_that_do_not_fit(data_dir, capsys):
    bc = str(data_dir / "bc.csv")
    for args, message in ((["--data", bc, "--target", "label"], "no column named 'label'; the columns are "
                                                                 "'mean_radius'"),
                          (["--target", "diagnosis"], "--target applies to --data FILE.csv only"),
                          (["--data", bc, "--dataset", "iris"], "give either --data FILE.csv or --dataset NAME"),
                          (["--data", bc, "--noise", "0.1"], "--noise applies only to the synthetic datasets"),
                          (["--data", bc, "--task", "regression"],
                           "row 2, column 31 ('diagnosis'): 'malignant' is not a number")):
        assert main(["train", "--epochs", "1", *args]) == 2
        assert message in one_line(capsys.readouterr().err)


def test_predict_checks_the_header_and_writes_nothing_on_an_error(data_dir, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(data_dir / "bc.csv"), "--epochs", "1", "--quiet", "--save", str(model)]) == 0
    rows = read_rows(data_dir / "bc.csv")
    write_csv(tmp_path / "renamed.csv", ["radius", *rows[0][1:]], rows[1:])
    shuffled = write_csv(tmp_path / "shuffled.csv", rows[0][::-1], [r[::-1] for r in rows[1:]])
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(tmp_path / "renamed.csv"), "--out", str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "renamed.csv: row 1: the header does not match the model's 30 features: no column 'mean_radius'" in line
    assert "column 'radius' is not a feature of the model" in line and not out.exists()
    write_csv(tmp_path / "two.csv", ["a", "b", *rows[0][2:]], rows[1:])
    (tmp_path / "two.csv").write_text("\n\n" + (tmp_path / "two.csv").read_text())  # blank lines before the header
    assert main(["predict", str(model), str(tmp_path / "two.csv")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "two.csv: row 3: the header does not match the model's 30 features: no columns 'mean_radius', " \
           "'mean_texture'; columns 'a', 'b' are not features of the model" in line
    write_csv(tmp_path / "broken.csv", rows[0], [*rows[1:40], rows[40][:-3], *rows[41:]])
    assert main(["predict", str(model), str(tmp_path / "broken.csv"), "--out", str(out)]) == 2
    assert "broken.csv: row 41, column 29 ('worst_symmetry'): the row ends after 28 cells" in \
        one_line(capsys.readouterr().err) and not out.exists()
    # columns in another order are found by name: the same predictions
    assert main(["predict", str(model), str(data_dir / "bc.csv")]) == 0
    straight = capsys.readouterr().out
    assert main(["predict", str(model), str(shuffled)]) == 0
    assert capsys.readouterr().out == straight


def test_predictions_are_written_atomically_with_a_new_files_mode_or_the_old_files(data_dir, tmp_path, capsys):
    model, out = tmp_path / "m.json", tmp_path / "pred.csv"
    assert main(["train", "--data", str(data_dir / "bc.csv"), "--epochs", "1", "--quiet", "--save", str(model)]) == 0
    old = os.umask(0o027)
    try:
        assert main(["predict", str(model), str(data_dir / "bc.csv"), "--out", str(out)]) == 0
        assert out.stat().st_mode & 0o777 == 0o640  # 0666 less the umask, not mkstemp's 0600
        out.chmod(0o604)
        assert main(["predict", str(model), str(data_dir / "bc.csv"), "--out", str(out)]) == 0
        assert out.stat().st_mode & 0o777 == 0o604  # replacing a file keeps its mode
    finally:
        os.umask(old)
    assert len(read_rows(out)) == 570 and sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "pred.csv"]


def test_a_version_1_model_file_evaluates_but_cannot_predict_from_raw_data(tmp_path, capsys, data_dir):
    model = tmp_path / "m.json"
    assert main(["train", "--dataset", "iris", "--epochs", "2", "--quiet", "--save", str(model)]) == 0
    doc = json.loads(model.read_text())
    old = {"format": doc["format"], "version": 1, "spec": doc["spec"], "weights": doc["weights"], "meta": doc["meta"]}
    model.write_text(json.dumps(old))
    assert main(["evaluate", str(model)]) == 0
    assert "dataset    iris" in capsys.readouterr().out
    assert main(["predict", str(model), str(data_dir / "bc.csv")]) == 2
    assert "it is a format version 1 file, saved by an older microgradx" in one_line(capsys.readouterr().err)


def test_a_diverging_run_warns_naming_the_learning_rate_and_exits_3():
    proc = run_main("train", "--lr", "100", "--epochs", "5", "--quiet", warning_action=None)
    assert proc.returncode == 3
    warning, note = proc.stderr.strip().splitlines()
    assert warning.startswith("microgradx train: warning: the training loss grew from ")
    assert "lr=100 is most likely too large" in warning
    assert "the loss diverged" in note and "exit status 3" in note
    assert "test accuracy" in proc.stdout  # the report is still there


def _on_a_terminal(*args: str) -> str:
    """Run the console script in a subprocess with its output on a pseudo-terminal; return what it wrote."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # 30 rows, 120 columns
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([str(SCRIPT), *args], stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_real_terminal_shows_a_progress_bar_per_batch_and_quiet_shows_none():
    shown = _on_a_terminal("train", "--epochs", "3")
    assert "45/45" in shown and "100%" in shown and "step/s" in shown  # 15 batches of 32 per epoch, 3 epochs
    assert "loss " in shown and "epoch 3/3" in shown
    # --quiet, on streams that say they are a terminal (in-process: the bar is decided by isatty())
    loud = run_main("train", "--epochs", "1", terminal=True)
    assert loud.returncode == 0 and "step/s" in loud.stderr  # this fake terminal does get the bar
    quiet = run_main("train", "--epochs", "3", "--quiet", terminal=True)
    assert quiet.returncode == 0
    shown = quiet.stdout + quiet.stderr
    assert "step/s" not in shown and "%|" not in shown and "test accuracy" in shown
