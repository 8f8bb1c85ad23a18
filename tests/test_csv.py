"""Your own data from a CSV file: the reader's errors name file, row and column; the task is inferred;
the 'csv' dataset is split and standardised as the bundled ones are; the 'diabetes' regression set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.files import write_csv
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from microgradx.datasets import CSVError, from_csv, load, read_csv
from microgradx.train import Trainer


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory) -> Path:
    """scikit-learn's breast cancer data as a user would have it: named columns, text labels."""
    d = load_breast_cancer()
    names = [n.replace(" ", "_") for n in d.feature_names]
    rows = [[*(repr(float(v)) for v in x), d.target_names[t]] for x, t in zip(d.data, d.target)]
    return write_csv(tmp_path_factory.mktemp("data") / "bc.csv", [*names, "diagnosis"], rows)


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory) -> Path:
    d = load_diabetes(scaled=False)
    rows = [[*(repr(float(v)) for v in x), repr(float(t))] for x, t in zip(d.data, d.target)]
    return write_csv(tmp_path_factory.mktemp("data") / "diabetes.csv", [*d.feature_names, "progression"], rows)


def test_a_real_table_with_text_labels_reads_as_a_classification_task(cancer_csv):
    data = read_csv(cancer_csv)
    raw = load_breast_cancer()
    assert data.task == "binary" and data.target_name == "diagnosis"
    assert data.classes == ("benign", "malignant")
    np.testing.assert_array_equal(data.X, raw.data)  # every number read back exactly
    np.testing.assert_array_equal(np.asarray(data.classes)[data.y], raw.target_names[raw.target])
    assert len(data.feature_names) == 30 and data.feature_names[0] == "mean_radius"


def test_from_csv_splits_and_standardises_as_the_bundled_datasets_do(cancer_csv):
    ds = from_csv(cancer_csv, seed=3)
    assert (ds.n_train, ds.n_test, ds.task, ds.n_classes) == (455, 114, "binary", 2)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1.0, rtol=1e-12)
    assert abs(np.mean(ds.y_test) - np.mean(ds.y_train)) < 0.01  # stratified
    assert ds.source == str(cancer_csv) and ds.target_name == "diagnosis"
    assert list(ds.labels([0, 1])) == ["benign", "malignant"]
    again = load("csv", path=str(cancer_csv), seed=3)  # registered like the others
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    by_name = load(f"csv:path={cancer_csv}:seed=3")  # the NAME:KEY=VALUE form
    np.testing.assert_array_equal(by_name.y_test, ds.y_test)


def test_a_trainer_learns_from_the_file(cancer_csv):
    history = Trainer(dataset=f"csv:path={cancer_csv}", epochs=15, seed=0).fit()
    assert history.test_accuracy[-1] >= 0.94


def test_numbers_with_many_values_are_a_regression_task_with_a_standardised_target(diabetes_csv):
    ds = from_csv(diabetes_csv)
    raw = load_diabetes(scaled=False)
    assert ds.task == "regression" and ds.n_classes is None and ds.target_name == "progression"
    np.testing.assert_allclose(ds.y_train.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.y_train.std(), 1.0, rtol=1e-12)
    assert set(np.round(ds.inverse_target(ds.y_train), 6)) <= set(np.round(raw.target, 6))
    bundled = load("diabetes")  # the bundled regression dataset, the same numbers
    np.testing.assert_allclose(bundled.inverse_target(bundled.y_test), ds.inverse_target(ds.y_test))


def test_few_distinct_integers_classify_unless_told_otherwise(tmp_path):
    iris = load_iris()
    path = write_csv(tmp_path / "iris.csv", ["a", "b", "c", "d", "species"],
                     [[*map(str, x), str(t)] for x, t in zip(iris.data, iris.target)])
    data = read_csv(path)
    assert data.task == "multiclass" and data.classes == ("0", "1", "2")  # labels are text, as written
    assert read_csv(path, labels="numeric").classes == (0, 1, 2)  # declared numbers: numbers
    assert read_csv(path, task="regression").task == "regression"
    assert read_csv(path, target="a").task == "regression"  # a named target: 35 distinct lengths in cm
    assert read_csv(path, target="a").feature_names == ("b", "c", "d", "species")
    with pytest.raises(CSVError, match="task 'binary' asked for, but the target has 3 classes"):
        read_csv(path, task="binary")


ROWS = [["1.0", "2.0", "yes"], ["3.5", "-1", "no"], ["0", "4e2", "yes"], ["2", "2", "no"]]


@pytest.mark.parametrize("lines, kwargs, message", [
    (["x,y,label", "1,2,yes", "3,,no"], {}, r"row 3, column 2 \('y'\): missing value ''"),
    (["x,y,label", "1,2,yes", "3,NA,no"], {}, r"row 3, column 2 \('y'\): missing value 'NA'"),
    (["x,y,label", "1,2,yes", "3,abc,no"], {}, r"row 3, column 2 \('y'\): 'abc' is not a number"),
    (["x,y,label", "1,2,yes", "3,inf,no"], {}, r"row 3, column 2 \('y'\): 'inf' is not a finite number"),
    (["x,y,label", "1,2,yes", "", "3,4"], {}, r"row 4, column 3 \('label'\): the row ends after 2 cells, but "
                                              r"the header names 3 columns"),
    (["x,y,label", "1,2,yes", "3,4,no,extra"], {}, "row 3, column 4: 4 cells, but the header names only 3 columns"),
    (["x,y,label", "1,2,yes", "3,4,"], {}, r"row 3, column 3 \('label'\): missing value"),
    (["x,y,label", "1,2,yes"], {"target": "z"}, "no column named 'z'; the columns are 'x', 'y', 'label'"),
    (["x,y,label", "1,2,yes", "3,4,yes"], {}, r"column 3 \('label'\): the target column has one class only"),
    (["x,y,label", "1,2,a", "3,4,b"], {"task": "regression"}, r"row 2, column 3 \('label'\): 'a' is not a number"),
    (["x,x,label", "1,2,yes"], {}, r"row 1, column 2 \('x'\): column name 'x' repeats column 1"),
    (["x,,label", "1,2,yes"], {}, "row 1, column 2: the header gives this column no name"),
    (["x;y;label", "1;2;yes"], {}, "the header names 1 column .*is the delimiter right"),
    (["x,y,label"], {}, "the file has a header row but no data rows"),
    ([], {}, "the file is empty"),
    (['x,y,label', '1,"2,yes'], {}, "malformed CSV"),
])
def test_every_problem_names_the_file_row_and_column(tmp_path, lines, kwargs, message):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    with pytest.raises(CSVError, match=message) as info:
        read_csv(path, **kwargs)
    assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(CSVError):
        from_csv(path, **kwargs)  # the dataset loader reports the same


def test_files_that_are_not_there_or_not_text(tmp_path):
    with pytest.raises(CSVError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(CSVError, match="is a directory"):
        read_csv(tmp_path)
    (tmp_path / "latin1.csv").write_bytes("x,y,label\n1,2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CSVError, match="not UTF-8 text"):
        read_csv(tmp_path / "latin1.csv")


def test_quotes_a_bom_spaces_and_tabs(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('\ufeff"x","y","label"\n" 1.5 ",2,"big, red"\n3,4,small\n', encoding="utf-8")
    data = read_csv(path)
    assert data.feature_names == ("x", "y") and data.classes == ("big, red", "small")
    np.testing.assert_array_equal(data.X, [[1.5, 2.0], [3.0, 4.0]])
    tsv = tmp_path / "t.tsv"
    tsv.write_text("x\ty\tlabel\n1\t2\ta\n3\t4\tb\n", encoding="utf-8")
    assert read_csv(tsv).classes == ("a", "b")


def test_a_class_with_one_example_cannot_be_stratified_and_says_which(tmp_path):
    rows = [[str(i), str(i % 3), "a" if i % 2 else "b"] for i in range(20)] + [["5", "5", "rare"]]
    path = write_csv(tmp_path / "rare.csv", ["x", "y", "label"], rows)
    with pytest.raises(CSVError, match=r"rare\.csv: cannot make a stratified split \(class rare has a single"):
        from_csv(path)
