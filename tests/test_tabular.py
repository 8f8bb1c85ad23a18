"""Tables as people have them: numbers as a CSV writes them, up to 10 bad cells per error, labels kept as
text, categorical columns one-hot encoded, missing values refused or imputed, predictions with ID
columns and neutralised text, and evaluation that refuses changed data."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_main
from helpers.files import write_csv

from microgradx import modelfile
from microgradx.cli import main
from microgradx.datasets import CSVError, from_csv, read_csv


def rows_of(text: str) -> list:
    return list(csv.reader(text.splitlines()))


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """600 rows: an ID, a colour (text), two numbers (one with missing cells), a label with leading zeros."""
    rng = np.random.default_rng(0)
    n = 600
    colour = rng.choice(["red", "green", "blue"], n)
    size, w = rng.normal(size=n), rng.normal(size=n)
    score = size + 1.5 * (colour == "red") - (colour == "blue") + 0.3 * rng.normal(size=n)
    label = np.where(score > 0.3, "001", "010")
    ids = [f"=HYPERLINK(\"http://x\",\"{i}\")" if i % 50 == 0 else f"id{i:04d}" for i in range(n)]
    rows = [[ids[i], colour[i], "" if i % 97 == 5 else f"{size[i]:.4f}", f"{w[i]:.4f}", label[i]] for i in range(n)]
    return write_csv(tmp_path_factory.mktemp("shop") / "shop.csv", ["id", "colour", "size", "w", "label"], rows)


# -- numbers and errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["1_000", "\u0661\u0662", "\uff11\uff12", "0x10", "1,5", "\u22121"])
def test_numbers_are_what_a_csv_means_by_numbers(tmp_path, cell):
    path = tmp_path / "n.csv"
    rows = [["1", "2", "a"], ["2", "3", "b"], ["3", cell, "a"], ["4", "5", "b"]]
    write_csv(path, ["x", "y", "label"], rows)
    with pytest.raises(CSVError, match=r"row 4, column 2 \('y'\): " + __import__("re").escape(repr(cell)) +
                       " is not a number"):
        read_csv(path)


def test_up_to_ten_bad_cells_are_listed_with_row_column_and_value(tmp_path):
    rows = [[str(i), "x" if i % 3 == 0 else str(i), "a" if i % 2 else "b"] for i in range(40)]
    path = write_csv(tmp_path / "bad.csv", ["x", "y", "label"], rows)
    with pytest.raises(CSVError) as info:
        read_csv(path)
    err = info.value
    assert err.count == 14 and len(err.problems) == 10
    assert [p[0] for p in err.problems] == [2 + 3 * k for k in range(10)]  # rows as counted in the file
    assert all(p[1:3] == (2, "y") and p[3].startswith("'x' is not a number") for p in err.problems)
    assert "(and 4 more: 14 in all)" in str(err) and "--categorical" in str(err)


def test_ragged_rows_missing_cells_and_quoted_line_breaks_keep_file_rows(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('x,y,label\n1,2,"a\nb"\n\n3,,c\n4,5\n', encoding="utf-8")
    with pytest.raises(CSVError, match=r"row 6, column 3 \('label'\): the row ends after 2 cells"):
        read_csv(path)
    path.write_text('x,y,label\n1,2,"a\nb"\n\n3,NA,c\n   \n4,,c\n', encoding="utf-8")
    with pytest.raises(CSVError, match=r"row 5, column 2 \('y'\): missing value 'NA'; row 7, column 2 \('y'\): "
                                       r"missing value ''\. To fill missing values, pass --impute"):
        read_csv(path)


def test_quoted_line_breaks_far_into_a_file_are_read_right(tmp_path):
    """The first megabyte has no quote, so pyarrow starts with its faster splitting; the quotes later make
    the file read again, quoted line breaks allowed: never a misread row."""
    rows = [[str(i), str(i % 7), "a" if i % 2 else "b"] for i in range(120_000)]
    rows += [[str(i), "1", "line one\nline two" if i % 3 == 0 else "b"] for i in range(300)]
    path = write_csv(tmp_path / "late.csv", ["x", "y", "label"], rows)
    assert b'"' not in path.read_bytes()[: 1 << 20] and path.stat().st_size > 1 << 20
    data = read_csv(path)
    assert data.columns.n_rows == 120_300 and data.classes == ("a", "b", "line one\nline two")
    assert np.bincount(data.y).tolist() == [60_000, 60_000 + 200, 100]
    assert data.fingerprint["size"] == path.stat().st_size


def test_a_quoted_header_keeps_the_fast_split_and_quoted_line_breaks_in_the_data_are_still_read_right(
        tmp_path, monkeypatch):
    """pyarrow and R quote the header's names; those quotes quote no data, so the file is read once, split
    fast. A quote in the data rows (in the first block, or far into the file) still allows line breaks."""
    import microgradx.datasets.csvread as csvread

    splits = []
    real = csvread._read_all
    monkeypatch.setattr(csvread, "_read_all", lambda *a: splits.append(a[-1]) or real(*a))
    header = '\n\n"x","y","label"\r\n'  # (blank lines before it, a Windows line end)
    path = tmp_path / "h.csv"
    path.write_text(header + "".join(f"{i},{i % 5},{'a' if i % 2 else 'b'}\r\n" for i in range(2000)),
                    encoding="utf-8")
    data = read_csv(path)
    assert splits == [False] and data.columns.n_rows == 2000 and data.classes == ("a", "b")
    splits.clear()
    path.write_text(header + '1,2,"a\nb"\r\n3,4,c\r\n', encoding="utf-8")
    assert read_csv(path).classes == ("a\nb", "c") and splits == [True]
    splits.clear()
    rows = [[str(i), str(i % 7), "a" if i % 2 else "b"] for i in range(120_000)] + [["1", "1", "p\nq"]]
    late = write_csv(tmp_path / "late.csv", ["x", "y", "label"], rows)
    late.write_bytes(b'"x","y","label"' + late.read_bytes()[len(b"x,y,label"):])
    data = read_csv(late)
    assert splits == [False, True] and data.columns.n_rows == 120_001 and data.classes == ("a", "b", "p\nq")


@pytest.mark.parametrize(("start", "lines", "expected"), [
    (b'"a","b"\n1,2\n', 1, 8), (b'\n"a","b"\r\n1,2\r\n', 2, 10), (b'"a","b"\r1,2\r', 1, 0),
    (b'"a","b"', 1, 0), (b"a,b\n", 0, 0)])
def test_where_the_data_starts_is_certain_or_zero(start, lines, expected):
    from microgradx.datasets.csvread import after_header

    assert after_header(start, lines) == expected


def test_a_large_file_shows_progress_on_a_terminal_only_after_a_second(tmp_path, monkeypatch):
    import microgradx.datasets.csvread as csvread

    shown = []
    monkeypatch.setattr(csvread, "progress_bar", lambda path, show: shown.append(show) or None)
    path = write_csv(tmp_path / "s.csv", ["x", "label"], [["1", "a"], ["2", "b"]])
    read_csv(path, progress=False)
    read_csv(path)
    assert shown == [False, None]  # None: tqdm decides (a terminal), and waits a second (delay=1)


def test_the_progress_bar_appears_once_a_read_has_lasted_a_second(tmp_path, capsys):
    import time

    from microgradx.datasets.csvio import Progress

    path = write_csv(tmp_path / "s.csv", ["x", "label"], [["1", "a"]])
    quick = Progress(path, True)
    quick.update(5)
    quick.close()  # under a second: nothing shown, the ticker stopped
    assert "reading" not in capsys.readouterr().err and quick.bar is None
    slow = Progress(path, True)
    slow.update(7)
    time.sleep(1.4)  # pyarrow still parsing: the bar is drawn by the ticker, not by reads
    slow.close()
    assert "reading s.csv" in capsys.readouterr().err and not slow.ticker.is_alive()


# -- labels --------------------------------------------------------------------------------------------------


def test_labels_keep_their_exact_text_and_nothing_distinct_merges(tmp_path):
    big = [str(2**53), str(2**53 + 1)]
    rows = [[str(i), lab] for i, lab in enumerate(["001", "002", "010", "001", "002", "010"] * 3)]
    data = read_csv(write_csv(tmp_path / "z.csv", ["x", "code"], rows))
    assert data.classes == ("001", "002", "010") and data.task == "multiclass"
    rows = [[str(i), big[i % 2]] for i in range(10)]
    data = read_csv(write_csv(tmp_path / "ids.csv", ["x", "id"], rows), task="classification")
    assert data.classes == tuple(big) and np.bincount(data.y).tolist() == [5, 5]  # above 2**53: still two
    rows = [[str(i), ["1", "1.0", "2"][i % 3]] for i in range(9)]
    path = write_csv(tmp_path / "f.csv", ["x", "c"], rows)
    assert read_csv(path).classes == ("1", "1.0", "2")  # text: three labels
    assert read_csv(path, labels="numeric").classes == (1, 2)  # declared numbers: 1 and 1.0 are one


def test_a_model_predicts_labels_as_they_were_written(shop, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(shop), "--ignore", "id", "--impute", "mean", "--epochs", "30", "--quiet",
                 "--save", str(model)]) == 0
    assert modelfile.read(model).schema.classes == ("001", "010")
    capsys.readouterr()
    assert main(["predict", str(model), str(shop), "--ignore", "id"]) == 0
    predicted = [r[0] for r in rows_of(capsys.readouterr().out)[1:]]
    truth = [r[-1] for r in rows_of(shop.read_text())[1:]]
    assert set(predicted) == {"001", "010"} and np.mean(np.array(predicted) == truth) > 0.85


# -- categories and missing values ---------------------------------------------------------------------------


def test_text_columns_are_one_hot_encoded_with_the_training_splits_categories(shop):
    ds = from_csv(shop, ignore=["id"], impute="median", seed=1)
    colour, size, w = ds.inputs
    assert colour.kind == "category" and colour.categories == ("blue", "green", "red")
    assert size.kind == "number" and size.impute is not None and w.kind == "number"
    assert ds.X_train.shape[1] == 5
    onehot = ds.X_train[:, :3]
    assert set(np.unique(onehot)) == {0.0, 1.0} and np.all(onehot.sum(axis=1) == 1)  # one-hot columns not scaled
    np.testing.assert_allclose(ds.X_train[:, 3:].mean(axis=0), 0.0, atol=1e-12)  # numbers standardised
    assert not np.isnan(ds.X_train).any() and not np.isnan(ds.X_test).any()  # missing sizes imputed


def test_missing_values_are_refused_by_default_naming_row_and_column(shop):
    with pytest.raises(CSVError, match=r"shop.csv: row 7, column 3 \('size'\): missing value ''; row 104, column 3"):
        from_csv(shop, ignore=["id"])
    with pytest.raises(CSVError, match=r"column 1 \('id'\): 480 distinct values in 480 training rows.*--ignore id"):
        from_csv(shop, impute="mean")


def test_a_column_declared_categorical_is_categories_even_when_it_holds_numbers(tmp_path):
    rows = [[str(i % 4), str(i), "a" if i % 4 < 2 else "b"] for i in range(40)]
    path = write_csv(tmp_path / "z.csv", ["zone", "x", "label"], rows)
    assert from_csv(path).inputs == ()  # numbers, used as they are
    ds = from_csv(path, categorical=["zone"])
    assert ds.inputs[0].categories == ("0", "1", "2", "3") and ds.X_train.shape[1] == 5


def test_unknown_categories_are_an_error_or_ignored_and_missing_ones_imputed(shop, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(shop), "--ignore", "id", "--impute", "most_frequent", "--epochs", "3",
                 "--quiet", "--save", str(model)]) == 0
    new = write_csv(tmp_path / "new.csv", ["w", "colour", "size"], [["1", "purple", "0.1"], ["2", "", ""]])
    capsys.readouterr()
    assert main(["predict", str(model), str(new)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "new.csv: row 2, column 2 ('colour'): 'purple' is not one of the categories the model was trained on " \
           "('blue', 'green', 'red')" in line
    assert main(["predict", str(model), str(new), "--handle-unknown", "ignore"]) == 0
    assert len(rows_of(capsys.readouterr().out)) == 3  # the missing colour and size were imputed


# -- predictions files ---------------------------------------------------------------------------------------


def test_id_columns_pass_through_and_text_cells_are_neutralised(shop, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(shop), "--ignore", "id", "--impute", "mean", "--epochs", "3", "--quiet",
                 "--save", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(shop), "--id", "id", "--proba"]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert rows[0] == ["id", "label", "P(001)", "P(010)"]
    assert rows[1][0] == "'=HYPERLINK(\"http://x\",\"0\")" and rows[2][0] == "id0001"
    assert main(["predict", str(model), str(shop), "--id", "id", "--raw-text"]) == 0
    assert rows_of(capsys.readouterr().out)[1][0] == "=HYPERLINK(\"http://x\",\"0\")"


def test_hostile_labels_and_column_names_are_neutralised_but_negative_numbers_stay_numbers(tmp_path, capsys):
    rows = [[str(i), str(-i), ["=cmd|' /C calc'!A0", "@SUM(1)", "-1", "+x"][i % 4]] for i in range(80)]
    path = write_csv(tmp_path / "h.csv", ["x", "-y", "=label"], rows)
    model = tmp_path / "h.json"
    assert main(["train", "--data", str(path), "--epochs", "3", "--quiet", "--save", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(path), "--proba"]) == 0
    out = rows_of(capsys.readouterr().out)
    assert out[0] == ["'=label", "P(+x)", "P(-1)", "P(=cmd|' /C calc'!A0)", "P(@SUM(1))"]  # P( starts them
    assert {r[0] for r in out[1:]} <= {"'+x", "-1", "'=cmd|' /C calc'!A0", "'@SUM(1)"}
    reg = write_csv(tmp_path / "r.csv", ["x", "y"], [[str(i), str(-3.5 * i - 1)] for i in range(50)])
    assert main(["train", "--data", str(reg), "--epochs", "3", "--quiet", "--save", str(tmp_path / "r.json")]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "r.json"), str(reg)]) == 0
    values = [r[0] for r in rows_of(capsys.readouterr().out)[1:]]
    assert all(not v.startswith("'") for v in values) and any(v.startswith("-") for v in values)
    [float(v) for v in values]


def test_a_bad_row_far_into_the_file_leaves_nothing_written(shop, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(shop), "--ignore", "id", "--impute", "mean", "--epochs", "1", "--quiet",
                 "--save", str(model)]) == 0
    header, *rows = rows_of(shop.read_text())
    body = [list(r) for r in rows * 200]  # 120,000 rows: several chunks
    body[-5][3] = "x"
    big = write_csv(tmp_path / "big.csv", header, body)
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["predict", str(model), str(big), "--out", str(out), "--ignore", "id"]) == 2
    assert "row 119997, column 4 ('w'): 'x' is not a number" in one_line(capsys.readouterr().err)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "m.json"]
    assert main(["predict", str(model), str(big)]) == 2
    assert capsys.readouterr().out == ""  # standard output: nothing either


# -- evaluation you can trust ----------------------------------------------------------------------------------


def test_evaluate_refuses_changed_or_missing_data_and_reads_paths_from_the_models_folder(shop, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(shop, work / "shop.csv")
    train = ("train", "--data", "shop.csv", "--ignore", "id", "--impute", "mean", "--epochs", "5", "--quiet", "--json",
             "--save", "models/m.json")
    proc = run_main(*train, cwd=work, warning_action=None)
    assert proc.returncode == 2 and "directory" in proc.stderr  # models/ does not exist: nothing trained
    (work / "models").mkdir()
    proc = run_main(*train, cwd=work, warning_action=None)
    assert proc.returncode == 0, proc.stderr
    trained = json.loads(proc.stdout)
    meta = modelfile.read(work / "models" / "m.json").meta
    assert meta["dataset_options"]["path"] == "../shop.csv" and meta["data_fingerprint"]["size"] == shop.stat().st_size
    elsewhere = run_main("evaluate", str(work / "models" / "m.json"), "--json", cwd=tmp_path, warning_action=None)
    assert elsewhere.returncode == 0, elsewhere.stderr  # from another folder: the same file, the same split
    assert json.loads(elsewhere.stdout)["test_accuracy"] == trained["test_accuracy"]
    with open(work / "shop.csv", "a", encoding="utf-8") as f:
        f.write("".join(f"x{i},red,0.5,0.1,001\n" for i in range(100)))
    proc = run_main("evaluate", str(work / "models" / "m.json"), warning_action=None)
    assert proc.returncode == 2 and "shop.csv has changed since the model was trained" in one_line(proc.stderr)
    (work / "shop.csv").unlink()
    proc = run_main("evaluate", str(work / "models" / "m.json"), warning_action=None)
    assert proc.returncode == 2 and "shop.csv is missing" in one_line(proc.stderr)


def test_training_accuracy_is_measured_on_a_sample_or_not_at_all(shop):
    from microgradx.train import Trainer

    options = {"path": str(shop), "ignore": ["id"], "impute": "mean"}
    sampled = Trainer(dataset="csv", dataset_options=options, epochs=2, train_sample=50)
    _, y = sampled.train_rows()
    assert len(y) == 50 and np.array_equal(sampled.train_rows()[1], y)  # the same sample each time
    history = sampled.fit()
    assert len(history.train_accuracy) == 2
    off = Trainer(dataset="csv", dataset_options=options, epochs=2, train_sample=0).fit()
    assert off.train_accuracy == [None, None] and None not in off.test_accuracy
